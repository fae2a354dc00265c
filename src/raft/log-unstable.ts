/**
 * Entries and a snapshot not yet persisted by the server (etcd-io/raft's unstable). They are handed
 * out in Ready and dropped from here when advance() reports them durable.
 */
import { invariant } from '../util/assert.js';
import type { LogIndex, Term } from '../util/brand.js';
import type { Entry, Snapshot } from './types.js';

export class Unstable {
  /** A snapshot received from the leader and not yet persisted. */
  snapshot: Snapshot | undefined = undefined;
  /** Invariant: entries[i].index === offset + i. */
  entries: Entry[] = [];
  /** Index of entries[0]; equals storage lastIndex + 1 once everything is stable. */
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot === undefined ? undefined : ((this.snapshot.meta.index + 1) as LogIndex);
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) return (this.offset + this.entries.length - 1) as LogIndex;
    return this.snapshot?.meta.index;
  }

  maybeTerm(i: LogIndex): Term | undefined {
    if (i < this.offset) {
      return this.snapshot !== undefined && this.snapshot.meta.index === i
        ? this.snapshot.meta.term
        : undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  /** The server persisted entries up to (i, t); a different term there means they were replaced. */
  stableTo(i: LogIndex, t: Term): void {
    if (i < this.offset) return;
    const e = this.entries[i - this.offset];
    if (e === undefined || e.term !== t) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = (i + 1) as LogIndex;
  }

  stableSnapTo(i: LogIndex): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = (s.meta.index + 1) as LogIndex;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      // Hot path: plain append. A loop, not push(...ents), so huge batches cannot overflow the stack.
      for (let i = 0; i < ents.length; i++) this.entries.push(ents[i] as Entry);
    } else if (after <= this.offset) {
      // Replaces everything unstable (and possibly some stable entries, which storage will overwrite).
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (let i = 0; i < ents.length; i++) this.entries.push(ents[i] as Entry);
    }
  }

  /** Entries [lo, hi); requires offset <= lo <= hi <= offset + entries.length. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    invariant(
      this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
