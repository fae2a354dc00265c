/**
 * Loads arbor.proto at runtime (no code generation) and exposes the two service constructors.
 * Loader options are fixed here and nowhere else: camelCase fields, 64-bit integers as decimal
 * strings (converted to number/bigint by `convert.ts`), enums as names, defaults filled in and
 * the oneof discriminator present as a virtual field.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { decodeClientResponse } from './response-decode.js';
import { encodeClientRequest } from './request-encode.js';
import { decodeWatchManyResponse, decodeWatchResponse } from './watch-decode.js';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Both src/client and dist/client sit two levels below the repository root. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
export const PROTO_FILE = 'arbor/v1/arbor.proto';

export interface ArborProtos {
  readonly Arbor: grpc.ServiceClientConstructor;
  readonly Cluster: grpc.ServiceClientConstructor;
  readonly Auth: grpc.ServiceClientConstructor;
  readonly definition: protoLoader.PackageDefinition;
}

let cached: ArborProtos | undefined;

/** Parsing the proto costs a few milliseconds; do it once per process. */
export function loadArborProtos(): ArborProtos {
  if (cached) return cached;
  const definition = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  // Watch responses and the session stream's answers are most of what a client decodes: hand
  // decoders build the same objects.
  const arbor = definition['arbor.v1.Arbor'] as protoLoader.ServiceDefinition;
  arbor['Watch'] = { ...arbor['Watch']!, responseDeserialize: decodeWatchResponse };
  arbor['WatchMany'] = { ...arbor['WatchMany']!, responseDeserialize: decodeWatchManyResponse };
  const stream = arbor['Stream']!;
  const fallback = stream.responseDeserialize;
  const serialize = stream.requestSerialize;
  arbor['Stream'] = {
    ...stream,
    responseDeserialize: (b: Buffer) => decodeClientResponse(b, fallback),
    // The requests it sends most are encoded by hand too.
    requestSerialize: (m: object) => encodeClientRequest(m as Record<string, unknown>) ?? serialize(m),
  };
  const root = grpc.loadPackageDefinition(definition);
  const pkg = (root['arbor'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  cached = {
    Arbor: pkg['Arbor'] as grpc.ServiceClientConstructor,
    Cluster: pkg['Cluster'] as grpc.ServiceClientConstructor,
    Auth: pkg['Auth'] as grpc.ServiceClientConstructor,
    definition,
  };
  return cached;
}
