/**
 * The client's public domain types. Revisions, versions and times are `number` (exact up to
 * 2^53, far beyond any log index a cluster reaches); session ids are `bigint` because the
 * server may hand out the full uint64 range.
 */
import type { ChannelCredentials } from '@grpc/grpc-js';

export interface Stat {
  readonly createdRevision: number;
  readonly modifiedRevision: number;
  readonly childrenRevision: number;
  readonly version: number;
  readonly childrenVersion: number;
  readonly createdMs: number;
  readonly modifiedMs: number;
  /** The owning session for ephemeral nodes, 0n otherwise. */
  readonly ephemeralOwner: bigint;
  readonly dataLength: number;
  readonly numChildren: number;
  /** Changes of the node's ACL (what setAcl's expectedAclVersion compares with). */
  readonly aclVersion: number;
}

/** Permission bits, ZooKeeper's values: combine with |. */
export const Perms = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/** One ACL entry: `world`/`anyone`, `user`/<name> or `x509`/<certificate subject>. */
export interface AclEntry {
  readonly scheme: 'world' | 'user' | 'x509';
  readonly id: string;
  readonly perms: number;
}

export interface AclResult {
  readonly acl: AclEntry[];
  readonly stat: Stat;
  readonly revision: number;
}

export interface UserInfo {
  readonly name: string;
  readonly roles: string[];
}

export type CreateMode =
  | 'persistent'
  | 'ephemeral'
  | 'persistent-sequential'
  | 'ephemeral-sequential'
  | 'container'
  | 'persistent-ttl';

export type Consistency = 'linearizable' | 'serializable';
export type WatchScope = 'node' | 'children' | 'subtree';
export type EventType = 'created' | 'updated' | 'deleted';
export type MemberRole = 'voter' | 'learner';

/** Every call accepts these. The deadline bounds all retries and failovers of the call. */
export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly deadlineMs?: number;
}

export interface ReadOptions extends CallOptions {
  /** Default 'linearizable' (ReadIndex on the serving member); 'serializable' may be stale. */
  readonly consistency?: Consistency;
}

export type Data = Buffer | Uint8Array | string;

export interface CreateOptions extends CallOptions {
  readonly mode?: CreateMode;
  /** Required for ephemeral modes. */
  readonly sessionId?: bigint;
  /** Required for 'persistent-ttl'. */
  readonly ttlMs?: number;
  readonly createParents?: boolean;
  /** The new node's ACL; absent: its parent's. */
  readonly acl?: readonly AclEntry[];
}

export interface SetOptions extends CallOptions {
  /** -1 or absent: any version. */
  readonly expectedVersion?: number;
}

export interface DeleteOptions extends CallOptions {
  readonly expectedVersion?: number;
  readonly recursive?: boolean;
}

export interface CreateResult {
  readonly path: string;
  readonly stat: Stat;
}
export interface GetResult {
  readonly data: Buffer;
  readonly stat: Stat;
  /** The serving member's applied revision when the read was served. */
  readonly revision: number;
}
export interface SetResult {
  readonly stat: Stat;
}
export interface ExistsResult {
  readonly exists: boolean;
  readonly stat?: Stat;
  readonly revision: number;
}
export interface ChildrenResult {
  /** Names (not paths), sorted. */
  readonly children: string[];
  readonly stat: Stat;
  readonly revision: number;
}

/** One operation of an atomic multi, tagged on `type`. */
export type Op =
  | {
      readonly type: 'create';
      readonly path: string;
      readonly data?: Data;
      readonly mode?: CreateMode;
      readonly sessionId?: bigint;
      readonly ttlMs?: number;
      readonly createParents?: boolean;
    }
  | { readonly type: 'set'; readonly path: string; readonly data: Data; readonly expectedVersion?: number }
  | {
      readonly type: 'delete';
      readonly path: string;
      readonly expectedVersion?: number;
      readonly recursive?: boolean;
    }
  | { readonly type: 'check'; readonly path: string; readonly expectedVersion: number };

export type OpResult =
  | { readonly type: 'create'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'set'; readonly stat: Stat }
  | { readonly type: 'delete' }
  | { readonly type: 'check' };

export interface WatchEvent {
  readonly type: EventType;
  readonly path: string;
  readonly data: Buffer;
  /** Absent for deletions when the server sends none. */
  readonly stat: Stat | undefined;
  readonly revision: number;
}

export interface WatchOptions {
  readonly scope?: WatchScope;
  /** 0 or absent: from now; otherwise replay every event with revision >= this. */
  readonly startRevision?: number;
  readonly signal?: AbortSignal;
}

export interface Member {
  readonly id: number;
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly role: MemberRole;
  readonly healthy: boolean;
}

export interface MemberStatus {
  /** The endpoint that answered. */
  readonly endpoint: string;
  readonly memberId: number;
  readonly leaderId: number;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly members: Member[];
  readonly name: string;
  readonly role: string;
}

export interface AddMemberOptions extends CallOptions {
  readonly id: number;
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  /** Recommended: join as a learner, then promoteMember once caught up. */
  readonly asLearner?: boolean;
}

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface ArborClientOptions {
  /** host:port of each member. */
  readonly endpoints: readonly string[];
  /** Identifies this client for exactly-once writes; default crypto.randomUUID(). */
  readonly clientId?: string;
  /** Bound on a whole call including retries; default 10 000 ms. */
  readonly defaultDeadlineMs?: number;
  /** Bound on one attempt against one member before failing over; default 5 000 ms. */
  readonly attemptTimeoutMs?: number;
  /** Default grpc insecure credentials. */
  readonly credentials?: ChannelCredentials;
  /** 'stream' (default): the pipelined Stream RPC; 'unary': one RPC per call. */
  readonly transport?: 'stream' | 'unary';
  /** Retry backoff (exponential with jitter); default { baseMs: 50, maxMs: 1000 }. */
  readonly backoff?: BackoffOptions;
  /**
   * Authenticate as this user (with `password`): the client exchanges them for a short-lived
   * token, sends it on every call and renews it before it expires or when it is refused.
   */
  readonly user?: string;
  readonly password?: string;
  /**
   * Connections of this client's own. By default grpc-js shares one TCP connection per member
   * among all clients in a process that use the same options; a load generator that wants N
   * connections creates N clients with this set.
   */
  readonly ownConnections?: boolean;
}

export interface SessionOptions extends CallOptions {
  /** Requested session timeout; the server may adjust it. Default 10 000 ms. */
  readonly timeoutMs?: number;
}

export type SessionState = 'connected' | 'suspended' | 'lost' | 'closed';
