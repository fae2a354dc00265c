/**
 * The set of members a client talks to, and the one retry loop every call goes through:
 * fail over to the next member on a retryable error, back off with jitter once every member
 * has failed, never past the call's deadline, and stop at once when the caller aborts.
 */
import * as grpc from '@grpc/grpc-js';
import { backoffMs, releasableSleep, sleep, throwIfAborted } from './abort.js';
import { CancelledError, DeadlineError, toArborError, type ArborError } from './errors.js';
import { Endpoint } from './endpoint.js';
import { Sequencer } from './sequencer.js';
import type { BackoffOptions, CallOptions } from './types.js';

export type CallKind = 'read' | 'write';

/** A sequenced write waiting for the retry round it joined. */
interface Waiter {
  readonly seq: number;
  readonly release: () => void;
}

/**
 * Sequenced writes that failed (or that would otherwise overtake ones that did) wait for one
 * shared backoff and then go out together, lowest sequence first, to the same member.
 */
interface RetryRound {
  readonly waiting: Waiter[];
  /** The backoff is over: writes leave as soon as no lower sequence is out on the wire. */
  due: boolean;
}

export interface PoolOptions {
  readonly endpoints: readonly string[];
  readonly clientId: string;
  readonly defaultDeadlineMs: number;
  readonly attemptTimeoutMs: number;
  readonly credentials: grpc.ChannelCredentials;
  readonly interceptors?: grpc.Interceptor[];
  readonly ownConnections?: boolean;
  readonly transport: 'stream' | 'unary';
  readonly backoff: BackoffOptions;
  /** Told when a write had to move to another member (the leader may have changed). */
  readonly onWriteFailover?: () => void;
}

export class EndpointPool {
  readonly endpoints: readonly Endpoint[];
  readonly sequencer: Sequencer;
  readonly transport: 'stream' | 'unary';
  readonly backoff: BackoffOptions;
  private readonly extra = new Map<string, Endpoint>();
  /** Reads rotate over members to spread load. */
  private readIndex = 0;
  /** Writes stick to the member that last served one (likely near or at the leader). */
  private writeIndex = 0;
  /** Writes not yet answered; the write member only changes by preference when there are none. */
  private writesInFlight = 0;
  private preferredWrite: number | undefined;
  private closed = false;
  /**
   * Members refuse a client's write that would apply before an earlier one still unapplied
   * (ABORTED, retryable). Retried one by one on jittered timers, a broken stream's pipelined
   * writes arrived in random order and were refused again and again (a client with 8 writes in
   * flight managed 4 writes/s for over ten seconds after a leader kill); so they retry in rounds.
   */
  private round: RetryRound | undefined;
  /** Consecutive rounds started by a failure; 0 again after a write succeeds. */
  private failedRounds = 0;
  /** When the first of those rounds started (their backoff grows with the outage, not the count). */
  private failingSince = 0;
  /** Sequences of writes with an attempt out on the wire (their outcome still unknown). */
  private readonly attempting = new Set<number>();
  /** Writes without a sequence (membership, leader transfer) not yet settled. */
  private unsequencedInFlight = 0;

  constructor(private readonly opts: PoolOptions) {
    if (opts.endpoints.length === 0) throw new RangeError('at least one endpoint is required');
    this.endpoints = opts.endpoints.map(
      (a) => new Endpoint(a, opts.credentials, opts.interceptors, opts.ownConnections),
    );
    this.sequencer = new Sequencer(opts.clientId);
    this.transport = opts.transport;
    this.backoff = opts.backoff;
    this.readIndex = Math.floor(Math.random() * this.endpoints.length);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  endpointAt(i: number): Endpoint {
    const n = this.endpoints.length;
    return this.endpoints[((i % n) + n) % n]!;
  }

  /** A member by address; one not in the list gets its own channel, closed with the pool. */
  endpointFor(address: string): Endpoint {
    const known = this.endpoints.find((e) => e.address === address) ?? this.extra.get(address);
    if (known) return known;
    const e = new Endpoint(address, this.opts.credentials, this.opts.interceptors, this.opts.ownConnections);
    this.extra.set(address, e);
    return e;
  }

  /**
   * Sends later writes to the member at `address` (the leader's client address, when it is one
   * of ours: no forwarding hop). Applied once no write is in flight, so pipelined writes never
   * race each other over two members. Returns whether the address is one of ours.
   */
  preferForWrites(address: string): boolean {
    const i = this.endpoints.findIndex((e) => e.address === address);
    if (i < 0) return false;
    const n = this.endpoints.length;
    if (i === ((this.writeIndex % n) + n) % n) {
      this.preferredWrite = undefined;
      return true;
    }
    this.preferredWrite = i;
    this.applyPreference();
    // Writes are out on another member (after a failover they would stay on a forwarding
    // follower for as long as the client keeps writes in flight): hold new ones until those are
    // answered, then move.
    if (this.preferredWrite !== undefined) this.round ??= { waiting: [], due: true };
    return true;
  }

  private applyPreference(idle = this.writesInFlight === 0): void {
    if (!idle || this.preferredWrite === undefined) return;
    this.writeIndex = this.preferredWrite;
    this.preferredWrite = undefined;
  }

  deadlineOf(opts: CallOptions): number {
    return Date.now() + (opts.deadlineMs ?? this.opts.defaultDeadlineMs);
  }

  /**
   * Run `attempt` against members until it succeeds, fails with a non-retryable error, the
   * deadline passes or the caller aborts. Writes must pass an attempt function that re-sends
   * the SAME request header so a retried write is answered from the server's cache; a write
   * that carries sequence `seq` retries in rounds, in sequence order with the others.
   */
  async retry<T>(
    kind: CallKind,
    opts: CallOptions,
    attempt: (endpoint: Endpoint, attemptDeadline: number) => Promise<T>,
    only?: Endpoint,
    seq?: number,
  ): Promise<T> {
    if (kind === 'write') {
      // A write pinned to one member takes no part in the rounds.
      const sequenced = only === undefined ? seq : undefined;
      this.writesInFlight++;
      if (sequenced === undefined) this.unsequencedInFlight++;
      try {
        return await this.attempts(kind, opts, attempt, only, sequenced);
      } finally {
        this.writesInFlight--;
        if (sequenced === undefined) this.unsequencedInFlight--;
        this.applyPreference();
      }
    }
    return this.attempts(kind, opts, attempt, only, undefined);
  }

  private async attempts<T>(
    kind: CallKind,
    opts: CallOptions,
    attempt: (endpoint: Endpoint, attemptDeadline: number) => Promise<T>,
    only: Endpoint | undefined,
    seq: number | undefined,
  ): Promise<T> {
    const deadline = this.deadlineOf(opts);
    let index = kind === 'read' ? this.readIndex++ : this.writeIndex;
    let failures = 0;
    let last: ArborError | undefined;
    // A round is waiting to re-send earlier writes: going out now would overtake them.
    if (seq !== undefined && this.round !== undefined) {
      await this.joinRound(seq, deadline, opts.signal, false);
      index = this.writeIndex;
    }
    for (;;) {
      if (this.closed) throw new CancelledError('client closed');
      throwIfAborted(opts.signal);
      const now = Date.now();
      if (now >= deadline) {
        throw new DeadlineError(
          `deadline exceeded after ${failures} failed attempt(s)${last ? `: ${last.message}` : ''}`,
          last ? { cause: last } : {},
        );
      }
      const endpoint = only ?? this.endpointAt(index);
      if (seq !== undefined) this.attempting.add(seq);
      try {
        const result = await attempt(endpoint, Math.min(deadline, now + this.opts.attemptTimeoutMs));
        if (seq !== undefined) this.settled(seq);
        if (kind === 'write') {
          this.writeIndex = index;
          // The writes moved while no member could take them (an election, most likely): the
          // member that took this one may only be forwarding, so look for the leader again.
          if (this.failedRounds > 0) this.opts.onWriteFailover?.();
          this.failedRounds = 0;
        }
        return result;
      } catch (e) {
        const error = toArborError(e);
        // A call pinned to one member (status of that member) reports its failure at once.
        if (!error.isRetryable || this.closed || only) {
          if (seq !== undefined) this.settled(seq);
          throw error;
        }
        last = error;
        failures++;
        if (seq !== undefined) {
          const turn = this.joinRound(seq, deadline, opts.signal, true);
          this.settled(seq);
          await turn;
          index = this.writeIndex;
          continue;
        }
        index++;
        if (kind === 'write') {
          this.writeIndex = index;
          this.preferredWrite = undefined;
          this.opts.onWriteFailover?.();
        }
        const delay = backoffMs(failures, this.endpoints.length, this.backoff);
        if (delay > 0) await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), opts.signal);
      }
    }
  }

  /**
   * Waits for the current retry round (starting one after a failure: the next member, and a
   * backoff that grows with each consecutive failed round). Leaves at its deadline, for the
   * caller to report it, or when `signal` aborts.
   */
  private joinRound(
    seq: number,
    deadline: number,
    signal: AbortSignal | undefined,
    failed: boolean,
  ): Promise<void> {
    let round = this.round;
    if (round === undefined) {
      if (failed) {
        if (this.failedRounds++ === 0) this.failingSince = Date.now();
        this.writeIndex++;
        this.preferredWrite = undefined;
        this.opts.onWriteFailover?.();
      }
      const delay = failed ? this.roundDelay() : 0;
      const r: RetryRound = { waiting: [], due: false };
      setTimeout(() => {
        r.due = true;
        this.releaseDue();
      }, delay);
      this.round = round = r;
    }
    const r = round;
    if (r.due) queueMicrotask(() => this.releaseDue());
    const leave = (): void => {
      const i = r.waiting.indexOf(waiter);
      if (i >= 0) r.waiting.splice(i, 1);
    };
    const wait = releasableSleep(Math.max(0, deadline - Date.now()) + 1, signal, leave);
    const waiter: Waiter = { seq, release: wait.release };
    if (!signal?.aborted) r.waiting.push(waiter);
    return wait.promise;
  }

  /**
   * The backoff before a failed round: none while members remain untried, then about half the
   * time the writes have been failing, at least `baseMs` and at most `maxMs`, half of it random.
   * Counting rounds instead escalated too fast: the answers of one forwarded batch can fail a
   * few milliseconds apart and each start a round, so a 300 ms election cost a second of backoff.
   */
  private roundDelay(): number {
    if (this.failedRounds < this.endpoints.length) return 0;
    const { baseMs, maxMs } = this.backoff;
    const d = Math.min(maxMs, Math.max(baseMs, (Date.now() - this.failingSince) / 2));
    return d / 2 + (Math.random() * d) / 2;
  }

  /**
   * An attempt of write `seq` got its answer: later writes held behind it may go. On a microtask,
   * so that a write joining the round first awaits its turn like the others (continuations run
   * in the order the turns are given).
   */
  private settled(seq: number): void {
    this.attempting.delete(seq);
    if (this.round?.due === true) queueMicrotask(() => this.releaseDue());
  }

  /**
   * Once the round's backoff is over, its writes go lowest sequence first (their attempts queue
   * in that order), except those a lower write still on the wire would be overtaken by: they
   * wait for it to be answered or to join them.
   */
  private releaseDue(): void {
    const r = this.round;
    if (r === undefined || !r.due) return;
    let lowest = Infinity;
    for (const s of this.attempting) if (s < lowest) lowest = s;
    r.waiting.sort((a, b) => a.seq - b.seq);
    let n = 0;
    while (n < r.waiting.length && r.waiting[n]!.seq < lowest) n++;
    if (n === r.waiting.length) {
      // Nothing of this client is on the wire: the leader found meanwhile may take the writes.
      if (this.attempting.size === 0 && this.unsequencedInFlight === 0) this.applyPreference(true);
      // A round nobody waits in stays only while the writes it holds back for are on the wire.
      if (n > 0 || this.attempting.size === 0) this.round = undefined;
    }
    for (const w of r.waiting.splice(0, n)) w.release();
  }

  close(): void {
    this.closed = true;
    // Waiting writes find the pool closed and fail at once.
    const r = this.round;
    this.round = undefined;
    for (const w of r?.waiting.splice(0) ?? []) w.release();
    for (const e of this.endpoints) e.close();
    for (const e of this.extra.values()) e.close();
    this.extra.clear();
  }
}
