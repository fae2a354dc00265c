/**
 * Named fault points (STYLE.md habit 10). Production passes none; fault tests script them to
 * throw (an I/O failure seen by the callers in that batch) or to kill the process at the exact
 * moment between "written" and "acknowledged".
 *
 * Each hook fires once per group-commit batch that contains work of that kind, with the number
 * of calls merged into it. A hook that throws (or rejects) fails the whole batch: its callers'
 * promises reject with StorageError('io') and the store refuses further writes, exactly as after
 * a real failed fsync.
 */
export interface FaultPoints {
  /** Before a batch holding raft log/hard-state writes is handed to LevelDB. */
  beforePersist?(calls: number): void | Promise<void>;
  /** After that batch is durable, before any caller's promise resolves. */
  afterPersist?(calls: number): void | Promise<void>;
  /** Before a batch holding state-machine (tree + applied meta) writes is handed to LevelDB. */
  beforeApplyCommit?(calls: number): void | Promise<void>;
  /** After that batch is durable, before any caller's promise resolves. */
  afterApplyCommit?(calls: number): void | Promise<void>;
  /** Before the single batch that flips the store to an installed snapshot. */
  beforeInstallCommit?(): void | Promise<void>;
  /** After a snapshot chunk is written (not yet committed): to crash mid-install. */
  afterInstallChunk?(chunkNo: number): void | Promise<void>;
}

export const noFaults: FaultPoints = {};
