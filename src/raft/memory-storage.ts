/**
 * The in-memory log the core reads through RaftStorage (etcd-io/raft's MemoryStorage). The server
 * mirrors every persisted Ready into it: append(rd.entries), setHardState(rd.hardState),
 * applySnapshot(rd.snapshot), and setConf(...) when it applies a conf change; it compacts with
 * createSnapshot + compact once the state machine has a durable image.
 */
import { InvariantError, invariant } from '../util/assert.js';
import type { LogIndex, Term } from '../util/brand.js';
import { NO_NODE } from '../util/brand.js';
import type { NodeId } from '../util/brand.js';
import { bootstrapState } from './conf-change.js';
import { limitSize } from './entry-size.js';
import type { ConfState, Entry, HardState, RaftStorage, Snapshot } from './types.js';
import { EntryType } from './types.js';

const EMPTY = new Uint8Array(0);

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0 as Term, vote: NO_NODE, commit: 0 as LogIndex };
  private conf: ConfState;
  private snap: Snapshot;
  /**
   * ents[0] is a dummy standing for the last entry covered by the snapshot (its index and term).
   * Invariant: ents[i].index === ents[0].index + i; ents.length >= 1.
   */
  private ents: Entry[];

  constructor(conf: ConfState = { voters: [], learners: [] }) {
    this.conf = conf;
    this.snap = { meta: { index: 0 as LogIndex, term: 0 as Term, conf }, data: EMPTY };
    this.ents = [dummy(0 as LogIndex, 0 as Term)];
  }

  /** Storage for a founding member of a new cluster (see bootstrapState). */
  static bootstrap(voters: readonly NodeId[]): MemoryStorage {
    const b = bootstrapState(voters);
    const s = new MemoryStorage(b.conf);
    s.append(b.entries);
    s.setHardState(b.hardState);
    return s;
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hardState, conf: this.conf };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** The configuration as of the server's applied index (persist it with the applied index). */
  setConf(conf: ConfState): void {
    this.conf = conf;
  }

  private get offset(): number {
    return (this.ents[0] as Entry).index;
  }

  firstIndex(): LogIndex {
    return (this.offset + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.offset + this.ents.length - 1) as LogIndex;
  }

  term(i: LogIndex): Term {
    const e = this.ents[i - this.offset];
    if (e === undefined) throw new InvariantError(`term(${i}) outside [${this.offset}, ${this.lastIndex()}]`);
    return e.term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    const off = this.offset;
    invariant(lo > off, `entries(${lo}) compacted (first ${off + 1})`);
    invariant(
      hi <= this.lastIndex() + 1 && lo <= hi,
      `entries(${lo}, ${hi}) beyond last ${this.lastIndex()}`,
    );
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the whole log with a snapshot received from the leader (Ready.snapshot).
   * Returns false (and changes nothing) when the snapshot is older than the one held.
   */
  applySnapshot(snap: Snapshot): boolean {
    if (snap.meta.index <= this.snap.meta.index && this.snap.meta.index !== 0) return false;
    this.snap = snap;
    this.conf = snap.meta.conf;
    this.ents = [dummy(snap.meta.index, snap.meta.term)];
    return true;
  }

  /**
   * Records the state machine image at `index` (<= applied) so a lagging follower can be sent
   * it. Returns false when a snapshot at or beyond `index` is already held.
   */
  createSnapshot(index: LogIndex, conf: ConfState, data: Uint8Array): boolean {
    if (index <= this.snap.meta.index) return false;
    invariant(index <= this.lastIndex(), `snapshot ${index} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index, term: this.term(index), conf }, data };
    return true;
  }

  /** Discards entries up to and including `index` (which must be covered by the snapshot). */
  compact(index: LogIndex): boolean {
    const off = this.offset;
    if (index <= off) return false;
    invariant(index <= this.lastIndex(), `compact ${index} beyond last index ${this.lastIndex()}`);
    const i = index - off;
    const rest = this.ents.slice(i + 1);
    rest.unshift(dummy(index, this.term(index)));
    this.ents = rest;
    return true;
  }

  /**
   * Appends persisted entries, overwriting any conflicting suffix (a new leader may replace
   * uncommitted entries, §5.3). Entries already compacted away are ignored.
   */
  append(entries: readonly Entry[]): void {
    const e0 = entries[0];
    if (e0 === undefined) return;
    const first = this.firstIndex();
    const last = e0.index + entries.length - 1;
    if (last < first) return;
    const skip = first > e0.index ? first - e0.index : 0;
    const at = e0.index + skip - this.offset;
    invariant(at <= this.ents.length, `missing log entries: last ${this.lastIndex()}, appending ${e0.index}`);
    if (at < this.ents.length) this.ents.length = at;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i] as Entry);
  }
}

function dummy(index: LogIndex, term: Term): Entry {
  return { index, term, type: EntryType.Normal, data: EMPTY };
}
