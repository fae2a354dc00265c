/**
 * Linearizable reads without log writes (dissertation §6.4, ReadIndex). A read is tagged with the
 * leader's commit index when it arrives; it may be served once a quorum has acknowledged a heartbeat
 * SENT AFTER it arrived (proof that no newer leader existed at that moment).
 *
 * Batching: requests are grouped in numbered rounds. A round is "open" while its heartbeats are
 * still in the outbox (not yet handed to the server in a Ready), so a request arriving then can
 * join it safely: those heartbeats have not left yet. Every heartbeat carries the newest round
 * number and followers echo it; a quorum acking round r releases every request of rounds <= r.
 */
import type { LogIndex, NodeId } from '../util/brand.js';

export interface ReadRequest {
  readonly seq: number;
  /** The leader's commit index when the request arrived. */
  readonly index: LogIndex;
  /** Who asked: the leader itself (a local read) or a follower that forwarded it. */
  readonly from: NodeId;
  readonly ctx: Uint8Array;
}

export class ReadOnly {
  /** Newest round number handed out in this term. Invariant: pending seqs are <= seq. */
  seq = 0;
  /** True while the heartbeats of round `seq` are queued but not yet released in a Ready. */
  roundOpen = false;
  /** FIFO; seq is non-decreasing along the queue. */
  private pending: ReadRequest[] = [];

  /** Queues a request; returns the round it joined and whether a new heartbeat round must be sent. */
  add(index: LogIndex, from: NodeId, ctx: Uint8Array): { seq: number; broadcast: boolean } {
    let broadcast = false;
    if (!this.roundOpen) {
      this.seq++;
      this.roundOpen = true;
      broadcast = true;
    }
    this.pending.push({ seq: this.seq, index, from, ctx });
    return { seq: this.seq, broadcast };
  }

  /** Called when the outbox is handed to the server: the open round's heartbeats are now out. */
  closeRound(): void {
    this.roundOpen = false;
  }

  /** Removes and returns every request of rounds <= ackedSeq. */
  release(ackedSeq: number): ReadRequest[] {
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as ReadRequest).seq <= ackedSeq) n++;
    if (n === 0) return [];
    const out = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    return out;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  reset(): void {
    this.seq = 0;
    this.roundOpen = false;
    this.pending = [];
  }
}
