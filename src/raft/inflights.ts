/**
 * The AppendEntries messages in flight to one follower (etcd-io/raft tracker/inflights.go): a ring
 * of the last index each message carried. While full, the leader stops sending to that follower
 * (flow control for pipelining, dissertation §10.2.2).
 */
import { invariant } from '../util/assert.js';

export class Inflights {
  /** Ring buffer; the live part is buf[start .. start+count) modulo size. Indexes increase. */
  private readonly buf: number[];
  private start = 0;
  count = 0;

  constructor(readonly size: number) {
    invariant(size > 0, 'maxInflightMsgs must be > 0');
    this.buf = new Array<number>(size).fill(0);
  }

  full(): boolean {
    return this.count === this.size;
  }

  add(lastIndex: number): void {
    invariant(!this.full(), 'inflights overflow');
    this.buf[(this.start + this.count) % this.size] = lastIndex;
    this.count++;
  }

  /** Acknowledges every message whose last index is <= `to`. */
  freeLE(to: number): void {
    while (this.count > 0 && (this.buf[this.start] as number) <= to) {
      this.start = (this.start + 1) % this.size;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** A heartbeat response proves the follower is alive: let one more message through. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.size;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
