/**
 * Exactly-once semantics for retried writes (Raft dissertation §6.3): per client, the encoded
 * result of each applied sequence number, so a retry gets the original answer and is not
 * applied twice. Part of the replicated state: persisted, restored and digested like znodes.
 *
 * Every decision here depends only on the table's contents and the envelope (never on
 * insertion order or a local clock), so a replica restored from records stays in lockstep.
 */
import type { Digest, Hasher } from './digest.js';
import { clientKey, hashClient, hashResult, resultKey, type ClientRecord } from './records.js';

export interface ClientEntry {
  lastSeenMs: number;
  /** Invariant: every cached seq is >= floor; seqs below floor are forgotten. */
  floor: number;
  /** Invariant: sorted ascending, exactly the keys of `results`. */
  readonly seqs: number[];
  readonly results: Map<number, Uint8Array>;
}

export type ClientLookup =
  | { readonly type: 'new' }
  /** Not applied and must not apply now: `highest` is the client's last applied sequence. */
  | { readonly type: 'outOfOrder'; readonly highest: number }
  | { readonly type: 'cached'; readonly bytes: Uint8Array }
  | { readonly type: 'forgotten'; readonly floor: number };

/** Where the table reports changes: the tree's dirty set and digest. */
export interface ChangeSink {
  mark(key: string): void;
  readonly digest: Digest;
  readonly hasher: Hasher;
}

export class ClientTable {
  private readonly map = new Map<string, ClientEntry>();

  constructor(private readonly sink: ChangeSink) {}

  get size(): number {
    return this.map.size;
  }

  get(clientId: string): Readonly<ClientEntry> | undefined {
    return this.map.get(clientId);
  }

  /**
   * Per-client FIFO: a client numbers its writes 1, 2, 3... and says with firstUnacked which
   * earlier ones it still waits for. A write applies only if every earlier write of the client
   * has applied or been answered (seq <= max(firstUnacked, highest + 1)), and never after a later
   * one (seq > highest). So pipelined writes keep their order even when a leader change loses
   * some of them and the client retries.
   */
  lookup(clientId: string, seq: number, firstUnacked: number): ClientLookup {
    const e = this.map.get(clientId);
    const highest = e === undefined ? 0 : (e.seqs[e.seqs.length - 1] ?? e.floor - 1);
    if (e !== undefined) {
      if (seq < e.floor) return { type: 'forgotten', floor: e.floor };
      const bytes = e.results.get(seq);
      if (bytes !== undefined) return { type: 'cached', bytes };
      if (seq < highest) return { type: 'outOfOrder', highest };
    }
    if (seq > Math.max(firstUnacked, highest + 1)) return { type: 'outOfOrder', highest };
    return { type: 'new' };
  }

  /**
   * Remembers the result of (clientId, seq), drops results below firstUnacked, and keeps at
   * most maxResults per client (the oldest go first; their seqs become forgotten).
   */
  record(
    clientId: string,
    seq: number,
    firstUnacked: number,
    bytes: Uint8Array,
    timeMs: number,
    maxResults: number,
  ): void {
    const { digest, hasher } = this.sink;
    let e = this.map.get(clientId);
    if (e === undefined) {
      e = { lastSeenMs: timeMs, floor: 0, seqs: [], results: new Map() };
      this.map.set(clientId, e);
    } else {
      digest.sub(hashClient(hasher, clientId, e));
    }
    e.lastSeenMs = timeMs;
    if (!e.results.has(seq)) {
      e.results.set(seq, bytes);
      insertSorted(e.seqs, seq);
      digest.add(hashResult(hasher, clientId, seq, bytes));
      this.sink.mark(resultKey(clientId, seq));
    }
    let floor = Math.max(e.floor, firstUnacked);
    if (e.seqs.length > maxResults) floor = Math.max(floor, e.seqs[e.seqs.length - maxResults] as number);
    let drop = 0;
    while (drop < e.seqs.length && (e.seqs[drop] as number) < floor) {
      this.dropResult(clientId, e, e.seqs[drop] as number);
      drop++;
    }
    if (drop > 0) e.seqs.splice(0, drop);
    e.floor = floor;
    digest.add(hashClient(hasher, clientId, e));
    this.sink.mark(clientKey(clientId));
  }

  private dropResult(clientId: string, e: ClientEntry, seq: number): void {
    const bytes = e.results.get(seq) as Uint8Array;
    this.sink.digest.sub(hashResult(this.sink.hasher, clientId, seq, bytes));
    e.results.delete(seq);
    this.sink.mark(resultKey(clientId, seq));
  }

  /** Forgets every client unseen for more than idleMs before nowMs. Returns how many. */
  evictIdle(nowMs: number, idleMs: number): number {
    let n = 0;
    for (const [clientId, e] of this.map) {
      if (nowMs - e.lastSeenMs <= idleMs) continue;
      for (const seq of e.seqs) this.dropResult(clientId, e, seq);
      this.sink.digest.sub(hashClient(this.sink.hasher, clientId, e));
      this.sink.mark(clientKey(clientId));
      this.map.delete(clientId);
      n++;
    }
    return n;
  }

  clear(): void {
    this.map.clear();
  }

  // ---- restore and persistence ----

  restoreClient(clientId: string, rec: ClientRecord): void {
    const e = this.entry(clientId);
    e.lastSeenMs = rec.lastSeenMs;
    e.floor = rec.floor;
  }

  restoreResult(clientId: string, seq: number, bytes: Uint8Array): void {
    const e = this.entry(clientId);
    e.results.set(seq, bytes);
    insertSorted(e.seqs, seq);
  }

  private entry(clientId: string): ClientEntry {
    let e = this.map.get(clientId);
    if (e === undefined) {
      e = { lastSeenMs: 0, floor: 0, seqs: [], results: new Map() };
      this.map.set(clientId, e);
    }
    return e;
  }

  entries(): IterableIterator<[string, ClientEntry]> {
    return this.map.entries();
  }
}

function insertSorted(a: number[], v: number): void {
  // Sequences almost always arrive in increasing order: append in O(1) then.
  let i = a.length;
  while (i > 0 && (a[i - 1] as number) > v) i--;
  if (i === a.length) a.push(v);
  else a.splice(i, 0, v);
}
