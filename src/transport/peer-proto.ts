/**
 * The peer protocol (proto/arbor/v1/raft.proto) loaded at runtime with proto-loader. Generated
 * shapes stay inside src/transport: everything else sees NodeId and Uint8Array.
 *
 * Decoded `bytes` fields are Buffer views into the received frame (protobufjs slices Buffers
 * without copying), which is what keeps the receive path copy-free.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { decodeMessageBatch, encodeMessageBatch, type MessageBatch } from './batch-codec.js';

export type { MessageBatch } from './batch-codec.js';
export interface SnapshotChunk {
  clusterId: string;
  from: number;
  to: number;
  header: Uint8Array;
  data: Uint8Array;
  last: boolean;
}
export interface ForwardRequest {
  clusterId: string;
  from: number;
  kind: string;
  payload: Uint8Array;
}
export interface ForwardResponse {
  payload: Uint8Array;
}
export interface ForwardStreamRequest {
  id: number;
  /** Null only from a broken sender; checked by the receiver. */
  request: ForwardRequest | null;
  deadlineMs: number;
}
/** Decoded with `oneofs: true`: `result` names the field that is set. */
export interface ForwardStreamResponse {
  id: number;
  payload?: Uint8Array;
  error?: { code: number; message: string } | null;
  result?: 'payload' | 'error';
}
export type Empty = Record<string, never>;

export interface PeerProto {
  readonly service: ServiceDefinition;
  readonly messages: MethodDefinition<MessageBatch, Empty>;
  readonly installSnapshot: MethodDefinition<Partial<SnapshotChunk>, Empty>;
  readonly forward: MethodDefinition<ForwardRequest, ForwardResponse>;
  readonly forwardStream: MethodDefinition<ForwardStreamRequest, ForwardStreamResponse>;
}

// Source lives in src/transport/, compiled code in dist/transport/: both two levels below the root.
const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const SERVICE = 'arbor.peer.v1.Peer';

let loaded: PeerProto | undefined;

/** Loads once per process; the definition is immutable. */
export function peerProto(): PeerProto {
  if (loaded !== undefined) return loaded;
  const pkg = protoLoader.loadSync('arbor/v1/raft.proto', {
    includeDirs: [PROTO_DIR],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loadedService = pkg[SERVICE] as ServiceDefinition | undefined;
  if (loadedService === undefined) throw new Error(`${SERVICE} missing from raft.proto`);
  const service: Record<string, MethodDefinition<unknown, unknown>> = { ...loadedService };
  const method = <Req, Res>(name: string): MethodDefinition<Req, Res> => {
    const m = service[name];
    if (m === undefined) throw new Error(`${SERVICE}.${name} missing from raft.proto`);
    return m as MethodDefinition<Req, Res>;
  };
  // Raft batches are encoded and decoded by hand (batch-codec.ts), proto-loader for anything odd.
  const plain = method<MessageBatch, Empty>('Messages');
  const messages: MethodDefinition<MessageBatch, Empty> = {
    ...plain,
    requestSerialize: (b: MessageBatch) => encodeMessageBatch(b) ?? plain.requestSerialize(b),
    requestDeserialize: (buf: Buffer) => decodeMessageBatch(buf) ?? plain.requestDeserialize(buf),
  };
  service['Messages'] = messages as MethodDefinition<unknown, unknown>;
  loaded = {
    service: service,
    messages,
    installSnapshot: method('InstallSnapshot'),
    forward: method('Forward'),
    forwardStream: method('ForwardStream'),
  };
  return loaded;
}
