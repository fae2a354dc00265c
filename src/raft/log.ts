/**
 * The Raft log as the core sees it: stable entries in storage followed by unstable ones
 * (etcd-io/raft's raftLog), plus the commit and apply cursors.
 */
import { InvariantError, invariant } from '../util/assert.js';
import type { LogIndex, Term } from '../util/brand.js';
import { limitSize } from './entry-size.js';
import { Unstable } from './log-unstable.js';
import type { Entry, RaftStorage, Snapshot } from './types.js';

export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed. Invariant: applied <= applying <= committed <= lastIndex(). */
  committed: LogIndex;
  /** Highest index handed to the server in Ready.committedEntries (not yet acknowledged). */
  applying: LogIndex;
  /** Highest index the server reported applied (via advance). */
  applied: LogIndex;

  constructor(
    readonly storage: RaftStorage,
    private readonly maxApplyingSize: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable((last + 1) as LogIndex);
    this.committed = (first - 1) as LogIndex;
    this.applying = this.committed;
    this.applied = this.committed;
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index the server has reported durable (everything before the unstable part). */
  lastStableIndex(): LogIndex {
    const u = this.unstable;
    if (u.entries.length > 0) return (u.offset - 1) as LogIndex;
    return u.snapshot?.meta.index ?? this.storage.lastIndex();
  }

  lastTerm(): Term {
    return this.term(this.lastIndex()) ?? (0 as Term);
  }

  /** The term of entry i, or undefined when i is compacted or beyond the last index. */
  term(i: LogIndex): Term | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.storage.term(i);
  }

  matchTerm(i: LogIndex, t: Term): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries: if the entry at `index` has `logTerm`, append `ents` (dropping
   * those we already hold, truncating from the first conflict) and return the new last index.
   */
  maybeAppend(
    index: LogIndex,
    logTerm: Term,
    committed: LogIndex,
    ents: readonly Entry[],
  ): LogIndex | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = (index + ents.length) as LogIndex;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      // Committed entries are never overwritten (State Machine Safety); a leader sending one is a bug.
      invariant(ci > this.committed, `entry ${ci} conflicts with committed entry ${this.committed}`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew) as LogIndex);
    return lastNew;
  }

  /** The first entry whose term differs from ours (or that we lack), or 0 if we have them all. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `t` (or whose term is unknown
   * because it was compacted). Everything after it can be skipped by the leader's next probe.
   */
  findConflictByTerm(index: LogIndex, t: Term): { index: LogIndex; term: Term } {
    let i = index;
    for (;;) {
      const ours = this.term(i);
      if (ours === undefined) return { index: i, term: 0 as Term };
      if (ours <= t) return { index: i, term: ours };
      i = (i - 1) as LogIndex;
    }
  }

  append(ents: readonly Entry[]): LogIndex {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    invariant(first.index - 1 >= this.committed, `append at ${first.index} below commit ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries in [lo, hi) limited to maxBytes (at least one). Requires firstIndex <= lo <= hi <= last + 1. */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    invariant(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `slice(${lo}, ${hi}) out of range`);
    const off = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < off) {
      ents = this.storage.entries(lo, Math.min(hi, off) as LogIndex, maxBytes);
      // Storage cut the batch short for size: do not add unstable entries after a gap.
      if (ents.length < Math.min(hi, off) - lo) return ents;
    }
    if (hi > off) {
      const u = this.unstable.slice(Math.max(lo, off) as LogIndex, hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }

  commitTo(c: LogIndex): void {
    if (c <= this.committed) return;
    if (c > this.lastIndex()) {
      throw new InvariantError(
        `commit ${c} beyond last index ${this.lastIndex()} (log corrupted or truncated?)`,
      );
    }
    this.committed = c;
  }

  /** §5.4.2: only an entry of the leader's current term is committed by counting replicas. */
  maybeCommit(maxIndex: LogIndex, t: Term): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === t) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEnts(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** The next batch to apply: (applying, min(committed, upTo)], limited to maxApplyingSize bytes. */
  nextCommittedEnts(upTo = Number.POSITIVE_INFINITY): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex()) as LogIndex;
    const hi = Math.min(this.committed, upTo);
    if (hi < lo) return [];
    return this.slice(lo, (hi + 1) as LogIndex, this.maxApplyingSize);
  }

  appliedTo(i: LogIndex): void {
    if (i <= this.applied) return;
    invariant(i <= this.committed, `applied ${i} beyond committed ${this.committed}`);
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}
