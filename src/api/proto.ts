/**
 * Loads the public contract (proto/arbor/v1/arbor.proto) at run time. Generated types never leak
 * past src/api: handlers convert to domain values in convert.ts.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { preEncodedResponses, WatchEncoder } from './watch-encoding.js';
import { withHandDecodedRequests } from './request-decode.js';

/** Compiled code lives in dist/api/, sources in src/api/: both two levels below the repo root. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export interface ArborProto {
  readonly packageDefinition: protoLoader.PackageDefinition;
  readonly arbor: grpc.ServiceDefinition;
  readonly cluster: grpc.ServiceDefinition;
  readonly auth: grpc.ServiceDefinition;
  /** Encodes Watch and WatchMany event responses from shared per-event bytes. */
  readonly watchEncoder: WatchEncoder;
}

let cached: ArborProto | undefined;

export function loadArborProto(): ArborProto {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync('arbor/v1/arbor.proto', LOADER_OPTIONS);
  const arbor = packageDefinition['arbor.v1.Arbor'] as grpc.ServiceDefinition;
  const cluster = packageDefinition['arbor.v1.Cluster'] as grpc.ServiceDefinition;
  const auth = packageDefinition['arbor.v1.Auth'] as grpc.ServiceDefinition;
  const serialize = preEncodedResponses(arbor, ['Watch', 'WatchMany', 'Stream']);
  const stream = arbor['Stream']!;
  (arbor as Record<string, grpc.MethodDefinition<unknown, unknown>>)['Stream'] = {
    ...stream,
    requestDeserialize: withHandDecodedRequests(stream.requestDeserialize.bind(stream)),
  };
  const watchEncoder = new WatchEncoder(serialize['Watch']!, serialize['WatchMany']!);
  cached = { packageDefinition, arbor, cluster, auth, watchEncoder };
  return cached;
}
