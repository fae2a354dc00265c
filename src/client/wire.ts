/**
 * The shapes @grpc/proto-loader produces and accepts with LOADER_OPTIONS (camelCase, 64-bit
 * integers as decimal strings, enums as names, oneof discriminators as virtual fields). These
 * types stay inside src/client: the public API speaks the domain types of `types.ts`.
 * Outgoing 64-bit fields are written as strings too (protobufjs accepts string | number).
 */
export type WireLong = string;

/**
 * A 64-bit field the hand decoders (watch-decode.ts) give as a number when below 2^53 (Stat's
 * fields, watch revisions); proto-loader gives a decimal string.
 */
export type WireNumber = WireLong | number;

export interface WireStat {
  createdRevision: WireNumber;
  modifiedRevision: WireNumber;
  childrenRevision: WireNumber;
  version: WireNumber;
  childrenVersion: WireNumber;
  createdMs: WireNumber;
  modifiedMs: WireNumber;
  ephemeralOwner: WireNumber;
  dataLength: number;
  numChildren: number;
  aclVersion?: WireNumber;
}

export interface WireAcl {
  scheme: string;
  id: string;
  perms: number;
}

export interface WireHeader {
  clientId: string;
  sequence: WireLong;
  firstUnacked: WireLong;
}

export type WireCreateMode =
  | 'PERSISTENT'
  | 'EPHEMERAL'
  | 'PERSISTENT_SEQUENTIAL'
  | 'EPHEMERAL_SEQUENTIAL'
  | 'CONTAINER'
  | 'PERSISTENT_WITH_TTL';
export type WireConsistency = 'LINEARIZABLE' | 'SERIALIZABLE';
export type WireWatchScope = 'NODE' | 'CHILDREN' | 'SUBTREE';
export type WireEventType = 'EVENT_TYPE_UNSPECIFIED' | 'CREATED' | 'UPDATED' | 'DELETED';
export type WireMemberRole = 'VOTER' | 'LEARNER';

export interface WireCreateRequest {
  path: string;
  data: Buffer;
  mode: WireCreateMode;
  sessionId: WireLong;
  ttlMs: WireLong;
  createParents: boolean;
  acl?: WireAcl[];
  header?: WireHeader;
}
export interface WireCreateResponse {
  path: string;
  stat: WireStat | null;
}
export interface WireReadRequest {
  path: string;
  consistency: WireConsistency;
}
export interface WireGetResponse {
  data: Buffer;
  stat: WireStat | null;
  revision: WireNumber;
}
export interface WireSetRequest {
  path: string;
  data: Buffer;
  expectedVersion: WireLong;
  header?: WireHeader;
}
export interface WireSetResponse {
  stat: WireStat | null;
}
export interface WireDeleteRequest {
  path: string;
  expectedVersion: WireLong;
  recursive: boolean;
  header?: WireHeader;
}
export type WireDeleteResponse = Record<string, never>;
export interface WireExistsResponse {
  exists: boolean;
  stat: WireStat | null;
  revision: WireNumber;
}
export interface WireGetChildrenResponse {
  children: string[];
  stat: WireStat | null;
  revision: WireNumber;
}
export interface WireCheckOp {
  path: string;
  expectedVersion: WireLong;
}
export type WireOp =
  | { op: 'create'; create: WireCreateRequest }
  | { op: 'set'; set: WireSetRequest }
  | { op: 'delete'; delete: WireDeleteRequest }
  | { op: 'check'; check: WireCheckOp };
export type WireOpResult =
  | { result: 'create'; create: WireCreateResponse }
  | { result: 'set'; set: WireSetResponse }
  | { result: 'delete'; delete: WireDeleteResponse }
  | { result: 'check'; check: Record<string, never> };
export interface WireMultiRequest {
  ops: WireOp[];
  header?: WireHeader;
}
export interface WireMultiResponse {
  results: WireOpResult[];
}
export interface WireSyncRequest {
  path: string;
}
export interface WireSyncResponse {
  revision: WireLong;
}

export interface WireWatchRequest {
  path: string;
  scope: WireWatchScope;
  startRevision: WireLong;
}
export interface WireWatchEvent {
  type: WireEventType;
  path: string;
  data: Buffer;
  stat: WireStat | null;
  revision: WireNumber;
}
export interface WireWatchResponse {
  created: boolean;
  revision: WireNumber;
  events: WireWatchEvent[];
  progress: boolean;
  compactRevision: WireLong;
}

export interface WireOpenSessionRequest {
  timeoutMs: WireLong;
  header?: WireHeader;
}
export interface WireOpenSessionResponse {
  sessionId: WireLong;
  timeoutMs: WireLong;
}
export interface WireKeepAliveRequest {
  sessionId: WireLong;
}
export interface WireKeepAliveResponse {
  sessionId: WireLong;
  ttlMs: WireLong;
}
export interface WireCloseSessionRequest {
  sessionId: WireLong;
  header?: WireHeader;
}

export interface WireErrorStatus {
  code: number;
  message: string;
  failedOp: number;
}

/**
 * One table ties each pipelined operation to its unary method, request and response shape,
 * so the stream and unary transports cannot disagree about what an operation is.
 */
export interface WireOps {
  create: { req: WireCreateRequest; res: WireCreateResponse };
  get: { req: WireReadRequest; res: WireGetResponse };
  set: { req: WireSetRequest; res: WireSetResponse };
  delete: { req: WireDeleteRequest; res: WireDeleteResponse };
  exists: { req: WireReadRequest; res: WireExistsResponse };
  getChildren: { req: WireReadRequest; res: WireGetChildrenResponse };
  multi: { req: WireMultiRequest; res: WireMultiResponse };
  sync: { req: WireSyncRequest; res: WireSyncResponse };
}
export type WireOpName = keyof WireOps;

export const UNARY_METHOD: { readonly [K in WireOpName]: string } = {
  create: 'Create',
  get: 'Get',
  set: 'Set',
  delete: 'Delete',
  exists: 'Exists',
  getChildren: 'GetChildren',
  multi: 'Multi',
  sync: 'Sync',
};

/** Writes carry a RequestHeader and must be retried with the same sequence. */
export const WRITE_OPS: ReadonlySet<WireOpName> = new Set<WireOpName>(['create', 'set', 'delete', 'multi']);

export type WireClientResponse = {
  id: WireLong;
  /** Answers packed into this message (to requests sent in a ClientRequest.batch). */
  batch?: readonly WireClientResponse[];
} & (
  | { result?: undefined }
  | { result: 'error'; error: WireErrorStatus }
  | { result: 'create'; create: WireCreateResponse }
  | { result: 'get'; get: WireGetResponse }
  | { result: 'set'; set: WireSetResponse }
  | { result: 'delete'; delete: WireDeleteResponse }
  | { result: 'exists'; exists: WireExistsResponse }
  | { result: 'getChildren'; getChildren: WireGetChildrenResponse }
  | { result: 'multi'; multi: WireMultiResponse }
  | { result: 'sync'; sync: WireSyncResponse }
  | { result: 'keepAlive'; keepAlive: WireKeepAliveResponse }
);

export interface WireMember {
  id: WireLong;
  name: string;
  clientUrl: string;
  peerUrl: string;
  role: WireMemberRole;
  healthy: boolean;
}
export interface WireStatusResponse {
  memberId: WireLong;
  leaderId: WireLong;
  term: WireLong;
  commitIndex: WireLong;
  appliedIndex: WireLong;
  revision: WireLong;
  members: WireMember[];
  name: string;
  role: string;
}
