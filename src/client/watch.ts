/**
 * A resumable watch. The watcher is an explicit state machine (after microsoft/etcd3's watch
 * manager): 'connecting' → 'streaming' → (stream broke) 'backoff' → 'connecting' … until
 * 'closed' or 'failed'. After a break it re-opens on the next member from lastRevision + 1,
 * and drops anything it already delivered (by revision, and by position within a revision,
 * since one multi may touch a path twice), so the consumer sees every event once, in
 * revision order, with no gap.
 *
 * With user/password credentials every connection first waits for a usable token (a stream's
 * metadata is fixed when it opens), and a stream refused with UNAUTHENTICATED (the token expired
 * or auth was re-keyed) fetches a new token and re-opens once before the watch fails.
 */
import { status as Status } from '@grpc/grpc-js';
import { backoffMs } from './abort.js';
import { scopeToWire, toNum, watchEventFromWire } from './convert.js';
import { OutOfRangeError, UnauthenticatedError, toArborError, type ArborError } from './errors.js';
import type { StreamAuth } from './credentials.js';
import type { EndpointPool } from './pool.js';
import type { WatchEvent, WatchOptions } from './types.js';
import type { WireWatchRequest, WireWatchResponse } from './wire.js';
import type { WatchLine } from './watch-line.js';

/** 'parked': left its stream while the consumer catches up (a shared stream is never paused). */
type WatchState = 'connecting' | 'streaming' | 'backoff' | 'parked' | 'closed' | 'failed';

/** Past this many undelivered events the stream is paused (HTTP/2 flow control pushes back). */
const HIGH_WATER = 1024;
const LOW_WATER = 256;

export class Watcher implements AsyncIterableIterator<WatchEvent> {
  private state: WatchState = 'connecting';
  /**
   * Invariant: every event with revision < lastRev has been queued, and so have the first
   * `deliveredAtLast` events of revision lastRev (Infinity: all of them, e.g. after a
   * progress notification).
   */
  private lastRev: number;
  private deliveredAtLast = Number.POSITIVE_INFINITY;
  /** False only for a watch "from now" that has not yet heard its creation revision. */
  private positioned: boolean;
  /** Per connection: the revision of the last event received and how many of it so far. A
   *  member replays one revision's events in log order, so the first `deliveredAtLast`
   *  of lastRev on a new connection are exactly the ones already delivered. */
  private streamRev = 0;
  private streamCountAtRev = 0;
  private readonly queue: WatchEvent[] = [];
  private waiter:
    { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void } | undefined;
  private failure: ArborError | undefined;
  private line: WatchLine | undefined;
  private paused = false;
  private endpointIndex: number;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resumes = 0;
  /** Set when a stream was refused UNAUTHENTICATED and a new token asked for; cleared by any answer. */
  private tokenRefreshed = false;
  private readonly onAbort = (): void => this.close();

  constructor(
    private readonly pool: EndpointPool,
    private readonly path: string,
    private readonly opts: WatchOptions,
    private readonly onClose: (w: Watcher) => void,
    /** Present when the client authenticates with user/password. */
    private readonly auth?: StreamAuth,
  ) {
    const start = opts.startRevision ?? 0;
    this.lastRev = start > 0 ? start - 1 : 0;
    this.positioned = start > 0;
    this.endpointIndex = Math.floor(Math.random() * pool.endpoints.length);
    if (opts.signal?.aborted) {
      this.state = 'closed';
      return;
    }
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.connect();
  }

  /** The highest revision this watcher has fully seen (events or progress notifications). */
  get lastRevision(): number {
    return this.lastRev;
  }

  /** How many times the watch re-opened after a broken stream. */
  get resumeCount(): number {
    return this.resumes;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.queue.shift();
    if (ev) {
      if (this.paused && this.queue.length <= LOW_WATER) {
        this.paused = false;
        if (this.state === 'parked') this.connect();
        else this.line?.resume();
      }
      return Promise.resolve({ value: ev, done: false });
    }
    if (this.failure) {
      const f = this.failure;
      this.failure = undefined;
      return Promise.reject(f);
    }
    if (this.state === 'closed' || this.state === 'failed')
      return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stop watching. Pending and future `next()` calls end the iteration. */
  close(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'closed';
    this.teardown();
    this.queue.length = 0;
    this.wake({ value: undefined, done: true });
  }

  private teardown(): void {
    clearTimeout(this.retryTimer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    const line = this.line;
    this.line = undefined;
    line?.cancel();
    this.onClose(this);
  }

  private wake(r: IteratorResult<WatchEvent>): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(r);
  }

  private fail(e: ArborError): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'failed';
    this.teardown();
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w.reject(e);
    else this.failure = e;
  }

  private connect(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'connecting';
    if (this.auth === undefined) {
      this.open();
      return;
    }
    // Opened without a token, the member would treat this watch as anonymous: refused, or
    // silently filtered down to what world:anyone may READ.
    void this.auth.ready().then(
      () => this.open(),
      (e: unknown) => this.onBroken(toArborError(e), false),
    );
  }

  private open(): void {
    if (this.state !== 'connecting') return;
    this.streamRev = 0;
    this.streamCountAtRev = 0;
    const endpoint = this.pool.endpointAt(this.endpointIndex);
    // Resume strictly after what was delivered; a fresh watch from "now" asks for 0.
    const req: WireWatchRequest = {
      path: this.path,
      scope: scopeToWire(this.opts.scope),
      startRevision: String(this.positioned ? this.lastRev + 1 : 0),
    };
    let line: WatchLine;
    try {
      line = endpoint.openWatch(req, {
        data: (res) => {
          if (this.line === line) this.onResponse(res);
        },
        broken: (e) => {
          if (this.line !== line) return;
          this.line = undefined;
          this.onBroken(e);
        },
      });
    } catch (e) {
      this.fail(toArborError(e));
      return;
    }
    this.line = line;
  }

  private onResponse(res: WireWatchResponse): void {
    this.state = 'streaming';
    this.failures = 0;
    this.tokenRefreshed = false;
    const compact = toNum(res.compactRevision);
    if (compact > 0) {
      this.fail(
        new OutOfRangeError(`watch history compacted: oldest available revision is ${compact}`, {
          compactRevision: compact,
        }),
      );
      return;
    }
    const revision = toNum(res.revision);
    if (res.created && !this.positioned) {
      // A watch "from now": everything up to the creation revision is, by definition, seen.
      this.positioned = true;
      this.advance(revision);
    }
    for (const wire of res.events) {
      const ev = watchEventFromWire(wire);
      if (ev.revision < this.lastRev) continue;
      if (ev.revision !== this.streamRev) {
        this.streamRev = ev.revision;
        this.streamCountAtRev = 0;
      }
      this.streamCountAtRev++;
      // Already delivered over an earlier connection: a duplicate, not a new event.
      if (ev.revision === this.lastRev && this.streamCountAtRev <= this.deliveredAtLast) continue;
      this.positioned = true;
      if (ev.revision > this.lastRev) {
        this.lastRev = ev.revision;
        this.deliveredAtLast = 0;
      }
      this.deliveredAtLast++;
      this.push(ev);
    }
    if (res.progress) this.advance(revision);
  }

  /** Everything up to and including `revision` is known to be delivered. */
  private advance(revision: number): void {
    if (revision > this.lastRev) {
      this.lastRev = revision;
      this.deliveredAtLast = Number.POSITIVE_INFINITY;
    }
  }

  private push(ev: WatchEvent): void {
    if (this.waiter) {
      this.wake({ value: ev, done: false });
      return;
    }
    this.queue.push(ev);
    if (!this.paused && this.queue.length >= HIGH_WATER) {
      this.paused = true;
      const line = this.line;
      if (line?.shared) {
        // Pausing a stream shared with other watches would stall them too: leave it, and come
        // back from lastRevision + 1 once the consumer has caught up (next()).
        this.line = undefined;
        line.cancel();
        this.state = 'parked';
      } else line?.pause();
    }
  }

  /** `byStream`: the member ended the stream (rather than fetching a token failing). */
  private onBroken(e: ArborError, byStream = true): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    if (byStream && e instanceof UnauthenticatedError && this.auth && !this.tokenRefreshed) {
      this.tokenRefreshed = true;
      this.auth.refused();
      this.state = 'backoff';
      this.resumes++;
      this.retryTimer = setTimeout(() => this.connect(), 0);
      return;
    }
    if (e instanceof OutOfRangeError || !(e.isRetryable || this.isStreamLoss(e))) {
      this.fail(e);
      return;
    }
    this.state = 'backoff';
    this.failures++;
    this.resumes++;
    this.endpointIndex++;
    this.paused = false;
    const delay = backoffMs(this.failures, this.pool.endpoints.length, this.pool.backoff);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** A stream reset by a member shutting down is resumed like UNAVAILABLE. */
  private isStreamLoss(e: ArborError): boolean {
    return e.code === Status.CANCELLED || e.code === Status.INTERNAL || e.code === Status.UNKNOWN;
  }
}
