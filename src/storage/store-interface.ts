/**
 * The contract of the storage adapter, kept apart from the LevelDB implementation so the server
 * (and simulators) can depend on the shapes without importing classic-level.
 */
import type { LogIndex, Term } from '../util/brand.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../raft/types.js';

/**
 * What the state machine has made durable. Written in the SAME batch as the tree mutations it
 * records, so after a restart applying resumes at index + 1: no entry is applied twice and the
 * log is not replayed from the start (the etcd "consistent index" technique).
 */
export interface AppliedMeta {
  readonly index: LogIndex;
  readonly term: Term;
  /** Membership as of `index`. */
  readonly conf: ConfState;
  /** Opaque to storage: the tree may keep e.g. its digest or session table version here. */
  readonly extra?: Uint8Array;
}

/** One change to the tree's records; `value: null` deletes the key. */
export interface Mutation {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

export interface RaftState {
  readonly hardState: HardState;
  /**
   * The log start: index/term of the last entry dropped from the log (by compaction or a
   * snapshot install). `conf` is the membership as of the APPLIED index — the one a member that
   * restarts with `applied = loadApplied().index` must start with, since it will not re-apply
   * entries at or below it.
   */
  readonly snapshotMeta: SnapshotMeta;
  /** Every stored entry after snapshotMeta.index, contiguous, in index order. */
  readonly entries: Entry[];
}

/** A consistent, point-in-time image of the tree plus the applied meta of that same instant. */
export interface SnapshotReader {
  readonly meta: AppliedMeta;
  /** Framed, checksummed chunks; the last one is marked final. Iterate at most once. */
  chunks(maxChunkBytes?: number): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

export interface SnapshotInstaller {
  /** Validates and stores one chunk (in arrival order). Rejects with StorageError('badSnapshot'). */
  write(chunk: Uint8Array): Promise<void>;
  /** Atomically replaces tree + applied meta and empties the log; requires the final chunk. */
  commit(): Promise<void>;
  /** Drops what was written; the store's state is unchanged. */
  abort(): Promise<void>;
}

export interface StoreStats {
  /** Number of raft log records on disk (lastIndex - logStart.index). */
  readonly logRecords: number;
  readonly logStartIndex: number;
  readonly lastIndex: number;
  readonly appliedIndex: number;
  /** Synced LevelDB batches written since open (each is one fsync of the LevelDB log). */
  readonly syncedBatches: number;
  /** persist/commitApply/compact calls merged into those batches. */
  readonly batchedCalls: number;
  readonly persistedEntries: number;
  /** Wall time of the last synced batch write, in milliseconds. */
  readonly lastSyncMs: number;
  /** LevelDB's estimate of the bytes the whole key space uses on disk (refreshed after compaction). */
  readonly approxBytes: number;
  readonly rangeCompactions: number;
}
