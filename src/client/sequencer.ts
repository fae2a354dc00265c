/**
 * Exactly-once bookkeeping for one client (Raft dissertation §6.3): every write gets the next
 * sequence number, a retry reuses it, and `firstUnacked` tells the server which cached
 * results it may forget.
 */
export interface RequestHeaderValue {
  readonly clientId: string;
  readonly sequence: number;
  readonly firstUnacked: number;
}

export class Sequencer {
  /** Invariant: every allocated sequence is < next. */
  private next = 1;
  /**
   * Sequences allocated and not yet finished. Sets iterate in insertion order and sequences
   * are inserted increasing, so the first element is always the smallest in flight.
   */
  private readonly inFlight = new Set<number>();

  constructor(readonly clientId: string) {}

  begin(): number {
    const seq = this.next++;
    this.inFlight.add(seq);
    return seq;
  }

  /**
   * The caller will never retry `seq` again: it got an answer, or gave up (deadline, abort).
   * Giving up acknowledges too; otherwise one lost write would pin firstUnacked forever.
   */
  end(seq: number): void {
    this.inFlight.delete(seq);
  }

  /** Invariant: every sequence below this one has been answered or abandoned. */
  firstUnacked(): number {
    for (const s of this.inFlight) return s;
    return this.next;
  }

  header(seq: number): RequestHeaderValue {
    return { clientId: this.clientId, sequence: seq, firstUnacked: this.firstUnacked() };
  }
}
