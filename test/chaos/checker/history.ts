/**
 * What the workload records and the checkers read. Times are milliseconds on one monotonic
 * clock of the recording process; `ret` is Infinity when the outcome is unknown.
 */

/**
 * ok: the operation completed and its result is known. fail: it definitely did not take effect
 * (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ABORTED ...). info: it may have taken effect, at any
 * time after its call, or never (DEADLINE_EXCEEDED, CANCELLED, connection lost).
 */
export type Outcome = 'ok' | 'fail' | 'info';

/** One operation on one versioned register (one znode's data and version). */
export interface RegisterOp {
  /** Unique in the history. */
  readonly id: number;
  /** The logical client (a new one after every info outcome, as in Jepsen). */
  readonly process: string;
  readonly key: string;
  /** read → (value, version); write → new version; cas(expected) → applied or not. */
  readonly f: 'read' | 'write' | 'cas';
  /** The value written (write, cas). */
  readonly value?: string;
  /** cas: the version the register must have. */
  readonly expected?: number;
  readonly outcome: Outcome;
  /** ok read: what was read. ok write/cas: the new version when known. */
  readonly result?: { readonly value?: string; readonly version?: number; readonly applied?: boolean };
  readonly call: number;
  readonly ret: number;
  /** Where it was sent, and the error seen, for the report. */
  readonly member?: number;
  readonly error?: string;
}

/** A sequential create (PERSISTENT_SEQUENTIAL) under `parent`. */
export interface SequentialCreate {
  readonly parent: string;
  readonly outcome: Outcome;
  /** ok: the created name (last path component). */
  readonly name?: string;
  readonly call: number;
  readonly ret: number;
}

/** One event as a watch stream delivered it. */
export interface WatchedEvent {
  readonly type: 'CREATED' | 'UPDATED' | 'DELETED';
  readonly path: string;
  readonly data: string;
  readonly version: number;
  readonly revision: number;
}

/** Every event one member's watch streams delivered, in arrival order; `resumes` mark reconnects. */
export interface WatchLog {
  readonly member: number;
  readonly events: WatchedEvent[];
  /** Indices into `events` where a new stream began after a compaction (a legal gap). */
  readonly compactions: number[];
  /** Each (re)opened stream: the index of its first event in `events` and the start_revision asked for. */
  readonly streams?: { readonly index: number; readonly startRevision: number }[];
}
