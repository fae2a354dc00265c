/**
 * The set of members a client talks to, and the one retry loop every call goes through:
 * fail over to the next member on a retryable error, back off with jitter once every member
 * has failed, never past the call's deadline, and stop at once when the caller aborts.
 */
import * as grpc from '@grpc/grpc-js';
import { backoffMs, sleep, throwIfAborted } from './abort.js';
import { CancelledError, DeadlineError, toArborError, type ArborError } from './errors.js';
import { Endpoint } from './endpoint.js';
import { Sequencer } from './sequencer.js';
import type { BackoffOptions, CallOptions } from './types.js';

export type CallKind = 'read' | 'write';

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
    this.preferredWrite = i;
    this.applyPreference();
    return true;
  }

  private applyPreference(): void {
    if (this.writesInFlight > 0 || this.preferredWrite === undefined) return;
    this.writeIndex = this.preferredWrite;
    this.preferredWrite = undefined;
  }

  deadlineOf(opts: CallOptions): number {
    return Date.now() + (opts.deadlineMs ?? this.opts.defaultDeadlineMs);
  }

  /**
   * Run `attempt` against members until it succeeds, fails with a non-retryable error, the
   * deadline passes or the caller aborts. Writes must pass an attempt function that re-sends
   * the SAME request header so a retried write is answered from the server's cache.
   */
  async retry<T>(
    kind: CallKind,
    opts: CallOptions,
    attempt: (endpoint: Endpoint, attemptDeadline: number) => Promise<T>,
    only?: Endpoint,
  ): Promise<T> {
    if (kind === 'write') {
      this.writesInFlight++;
      try {
        return await this.attempts(kind, opts, attempt, only);
      } finally {
        this.writesInFlight--;
        this.applyPreference();
      }
    }
    return this.attempts(kind, opts, attempt, only);
  }

  private async attempts<T>(
    kind: CallKind,
    opts: CallOptions,
    attempt: (endpoint: Endpoint, attemptDeadline: number) => Promise<T>,
    only: Endpoint | undefined,
  ): Promise<T> {
    const deadline = this.deadlineOf(opts);
    let index = kind === 'read' ? this.readIndex++ : this.writeIndex;
    let failures = 0;
    let last: ArborError | undefined;
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
      try {
        const result = await attempt(endpoint, Math.min(deadline, now + this.opts.attemptTimeoutMs));
        if (kind === 'write') this.writeIndex = index;
        return result;
      } catch (e) {
        const error = toArborError(e);
        // A call pinned to one member (status of that member) reports its failure at once.
        if (!error.isRetryable || this.closed || only) throw error;
        last = error;
        failures++;
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

  close(): void {
    this.closed = true;
    for (const e of this.endpoints) e.close();
    for (const e of this.extra.values()) e.close();
    this.extra.clear();
  }
}
