/**
 * Per-connection budgets on the client port: requests in flight (unary calls and pipelined
 * `Stream` requests together) and open watches. A client that exceeds one is refused at once with
 * RESOURCE_EXHAUSTED; nothing is queued on its behalf, so a flood costs the member only what
 * the budget allows (ZooKeeper's throttling, etcd's --max-concurrent-streams, made explicit).
 *
 * Cost on the hot path: one Map lookup by the connection's address per unary call (a `Stream`
 * looks its connection up once, then only counts), no allocation beyond the address string
 * grpc-js builds.
 */
import { MemberError } from '../server/errors.js';
import { connectionKey, type PeerAware } from './client-identity.js';

/** The counters of one connection. Invariant: 0 <= requests <= max, 0 <= watches <= max. */
export interface ConnectionCounts {
  requests: number;
  watches: number;
  /** Open `Stream` calls holding this entry: a held entry is never swept (its counts stay shared). */
  streams: number;
}

export interface ConnectionBudget {
  readonly maxRequests: number;
  readonly maxWatches: number;
}

/** Below this many entries the table is never swept (a sweep walks every entry). */
const MIN_SWEEP_SIZE = 1024;

export class ConnectionLimits {
  private readonly conns = new Map<string, ConnectionCounts>();
  private sweepAt = MIN_SWEEP_SIZE;

  constructor(readonly budget: ConnectionBudget) {}

  /** The counters of the connection `call` arrived on. */
  of(call: PeerAware): ConnectionCounts {
    const key = connectionKey(call);
    let c = this.conns.get(key);
    if (c === undefined) {
      // grpc-js tells a handler nothing when a connection closes, so idle entries are dropped in
      // bulk once the table has doubled: amortised O(1), and bounded by the busy connections.
      if (this.conns.size >= this.sweepAt) this.sweep();
      c = { requests: 0, watches: 0, streams: 0 };
      this.conns.set(key, c);
    }
    return c;
  }

  /** Counts one request in, or throws RESOURCE_EXHAUSTED if the connection is at its budget. */
  enterRequest(c: ConnectionCounts): void {
    if (c.requests >= this.budget.maxRequests) {
      throw new MemberError(
        'resourceExhausted',
        `${this.budget.maxRequests} requests are already in flight on this connection ` +
          '(--max-requests-per-connection): wait for answers before sending more, or spread the load over more connections',
      );
    }
    c.requests++;
  }

  leaveRequest(c: ConnectionCounts): void {
    c.requests--;
  }

  /** Counts one watch in, or throws RESOURCE_EXHAUSTED if the connection is at its budget. */
  enterWatch(c: ConnectionCounts): void {
    if (c.watches >= this.budget.maxWatches) {
      throw new MemberError(
        'resourceExhausted',
        `${this.budget.maxWatches} watches are already open on this connection ` +
          '(--max-watches-per-connection): cancel watches you no longer need, or watch a common parent with scope CHILDREN or SUBTREE',
      );
    }
    c.watches++;
  }

  leaveWatch(c: ConnectionCounts): void {
    c.watches--;
  }

  /** A long-lived call keeps using `c`: it must stay the connection's one entry until released. */
  hold(c: ConnectionCounts): void {
    c.streams++;
  }

  release(c: ConnectionCounts): void {
    c.streams--;
  }

  /** Connections with anything counted (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const c of this.conns.values()) if (c.requests > 0 || c.watches > 0 || c.streams > 0) n++;
    return n;
  }

  private sweep(): void {
    for (const [k, c] of this.conns) {
      if (c.requests === 0 && c.watches === 0 && c.streams === 0) this.conns.delete(k);
    }
    this.sweepAt = Math.max(MIN_SWEEP_SIZE, 2 * this.conns.size);
  }
}
