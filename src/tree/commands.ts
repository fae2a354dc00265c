/**
 * The replicated command vocabulary. Everything nondeterministic (time, session ids, which
 * nodes expired) is fixed by the leader before replication, as in ZooKeeper's transactions, so
 * every replica applying the same envelope computes the same result.
 */
import type { SessionId } from '../util/brand.js';
import type { Acl, Identity } from './acl.js';
import type { Credential } from './auth-table.js';

/** arbor.v1.CreateMode, in proto order (index = proto enum number). */
export const CREATE_MODES = [
  'persistent',
  'ephemeral',
  'persistentSequential',
  'ephemeralSequential',
  'container',
  'persistentWithTtl',
] as const;
export type CreateMode = (typeof CREATE_MODES)[number];

/** The proto enum number → mode; undefined for unknown numbers. */
export function createModeFromProto(n: number): CreateMode | undefined {
  return CREATE_MODES[n];
}

export function createModeToProto(m: CreateMode): number {
  return CREATE_MODES.indexOf(m);
}

export function isSequential(m: CreateMode): boolean {
  return m === 'persistentSequential' || m === 'ephemeralSequential';
}

export function isEphemeral(m: CreateMode): boolean {
  return m === 'ephemeral' || m === 'ephemeralSequential';
}

export interface CreateCommand {
  readonly type: 'create';
  /** For sequential modes, the prefix to which the 10-digit suffix is appended. */
  readonly path: string;
  readonly data: Uint8Array;
  readonly mode: CreateMode;
  /** Owner of an ephemeral (required ≠ 0 for ephemeral modes; ignored otherwise). */
  readonly sessionId: SessionId;
  /** Required > 0 for persistentWithTtl; must be 0 otherwise. */
  readonly ttlMs: number;
  /** Create missing ancestors as persistent nodes (same revision). */
  readonly createParents: boolean;
  /** The new node's ACL; absent: the parent's (created parents always take their parent's). */
  readonly acl?: Acl;
}

export interface SetCommand {
  readonly type: 'set';
  readonly path: string;
  readonly data: Uint8Array;
  /** -1: any version. */
  readonly expectedVersion: number;
}

export interface DeleteCommand {
  readonly type: 'delete';
  readonly path: string;
  /** -1: any version. Checked against the top node only when recursive. */
  readonly expectedVersion: number;
  readonly recursive: boolean;
}

/** Only inside a multi. */
export interface CheckCommand {
  readonly type: 'check';
  readonly path: string;
  readonly expectedVersion: number;
}

export type MultiOp = CreateCommand | SetCommand | DeleteCommand | CheckCommand;

/** All or nothing; every op shares the entry's revision. */
export interface MultiCommand {
  readonly type: 'multi';
  readonly ops: readonly MultiOp[];
}

/** The new session's id is the revision of this entry. */
export interface OpenSessionCommand {
  readonly type: 'openSession';
  readonly timeoutMs: number;
}

export interface CloseSessionCommand {
  readonly type: 'closeSession';
  readonly sessionId: SessionId;
}

/** Decided by the leader (liveness is not in the tree); unknown ids are skipped. */
export interface ExpireSessionsCommand {
  readonly type: 'expireSessions';
  readonly sessionIds: readonly SessionId[];
}

/** A leader-decided delete of an expired TTL node or an emptied container (ZooKeeper's ContainerManager). */
export interface SweepTarget {
  readonly path: string;
  readonly expectedVersion: number;
  readonly expectedChildrenVersion?: number;
}

/** Targets that changed since the leader chose them are skipped, not errors. */
export interface SweepCommand {
  readonly type: 'sweep';
  readonly targets: readonly SweepTarget[];
}

/** Replaces a node's ACL (needs ADMIN on it); -1: any ACL version (ZooKeeper's aversion). */
export interface SetAclCommand {
  readonly type: 'setAcl';
  readonly path: string;
  readonly acl: Acl;
  readonly expectedAclVersion: number;
}

/** User management: needs the admin role once auth is enabled. Never carries a password. */
export interface AddUserCommand {
  readonly type: 'addUser';
  readonly name: string;
  readonly credential: Credential;
  readonly roles: readonly string[];
}
export interface DeleteUserCommand {
  readonly type: 'deleteUser';
  readonly name: string;
}
/** A user may change their own password; an admin anyone's. */
export interface SetPasswordCommand {
  readonly type: 'setPassword';
  readonly name: string;
  readonly credential: Credential;
}
export interface RoleCommand {
  readonly type: 'grantRole' | 'revokeRole';
  readonly name: string;
  readonly role: string;
}
/** Refused unless a user with the admin role exists. The proposer picks the token secret. */
export interface AuthEnableCommand {
  readonly type: 'authEnable';
  readonly secret: Uint8Array;
}
export interface AuthDisableCommand {
  readonly type: 'authDisable';
}

export type AuthCommand =
  | AddUserCommand
  | DeleteUserCommand
  | SetPasswordCommand
  | RoleCommand
  | AuthEnableCommand
  | AuthDisableCommand;

export type Command =
  | CreateCommand
  | SetAclCommand
  | AuthCommand
  | SetCommand
  | DeleteCommand
  | CheckCommand
  | MultiCommand
  | OpenSessionCommand
  | CloseSessionCommand
  | ExpireSessionsCommand
  | SweepCommand;

/** Exactly-once header (arbor.v1.RequestHeader; Raft dissertation §6.3). */
export interface ClientHeader {
  readonly clientId: string;
  readonly seq: number;
  /** Every seq below this one has been answered; their cached results may be dropped. */
  readonly firstUnacked: number;
}

/** One Raft log entry's payload. */
export interface Envelope {
  /** The leader's wall clock when it proposed the entry: the only clock the tree sees. */
  readonly timeMs: number;
  readonly client?: ClientHeader;
  /**
   * Who asked, resolved by the member that received the request; present only while auth is
   * enabled (the hot path carries nothing). Checked against ACLs at apply, on every replica.
   */
  readonly identity?: Identity;
  readonly command: Command;
}

/**
 * Wire tags of command (and result) types, shared by both codecs so a command and its result
 * always carry the same number. Never renumber: the numbers are in every stored log entry.
 */
export const COMMAND_TAG = {
  create: 1,
  set: 2,
  delete: 3,
  check: 4,
  multi: 5,
  openSession: 6,
  closeSession: 7,
  expireSessions: 8,
  sweep: 9,
  setAcl: 10,
  addUser: 11,
  deleteUser: 12,
  setPassword: 13,
  grantRole: 14,
  revokeRole: 15,
  authEnable: 16,
  authDisable: 17,
} as const satisfies Record<Command['type'], number>;
