/**
 * The vocabulary shared between the pure Raft core and the server that drives it.
 * The core never does I/O: it hands the server a Ready batch (persist, then send, then apply)
 * and is told with advance() that the batch was handled (etcd-io/raft's Ready contract).
 */
import type { LogIndex, NodeId, Term } from '../util/brand.js';

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  /** Opaque to the core. Empty for the no-op a new leader appends (§5.4.2). */
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent (Figure 2). */
export interface HardState {
  readonly term: Term;
  /** NO_NODE (0) when this member has not voted in `term`. */
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

/** The membership: single-server changes only (dissertation §4.1), so no joint consensus. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly index: LogIndex;
  readonly term: Term;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /**
   * Opaque state-machine image. The server may leave this empty and stream the real image
   * in chunks from its state-machine store when the message is sent (see transport).
   */
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'promoteLearner' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core: the server puts the member's addresses and name here. */
  readonly context: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state the server may want to observe (leader changes, role). Not persisted. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** A linearizable read is safe once the local state machine has applied `index` (§6.4). */
export interface ReadState {
  readonly index: LogIndex;
  readonly ctx: Uint8Array;
}

/**
 * Read-only view of the log from the core's side (etcd-io/raft's Storage). Synchronous: the
 * server keeps the un-compacted log in memory (MemoryStorage) and mirrors it to disk.
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries in [lo, hi), stopping early once maxBytes is exceeded (at least one entry). */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[];
  /** The term of entry i; valid for firstIndex()-1 <= i <= lastIndex(). */
  term(i: LogIndex): Term;
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  snapshot(): Snapshot;
}
