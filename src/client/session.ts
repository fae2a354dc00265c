/**
 * A client session (ZooKeeper's session, etcd's lease): opened with OpenSession, kept alive
 * over the KeepAlive bidi stream every timeout/3, failed over to other members, closed with
 * CloseSession. State changes go through `transition`, which refuses illegal ones:
 *
 *   connected ⇄ suspended → lost        (any live state) → closed
 *
 * 'suspended' means keep-alives are failing but the timeout has not yet elapsed since the
 * last acknowledged one, so the server may still hold the session (and its ephemerals).
 * 'lost' means the server said the session is unknown/expired, or the timeout elapsed
 * without an acknowledged keep-alive: ephemerals must be assumed gone.
 *
 * With user/password credentials every KeepAlive stream waits for a usable token before it opens
 * (its metadata is fixed then), so a stream re-opened after the first token expired carries a
 * fresh one instead of being refused until the session is lost.
 */
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { backoffMs } from './abort.js';
import { headerToWire, toBig, toNum } from './convert.js';
import type { StreamAuth } from './credentials.js';
import { DeadlineError, NoNodeError, UnauthenticatedError, toArborError, type ArborError } from './errors.js';
import { unaryCall } from './endpoint.js';
import type { EndpointPool } from './pool.js';
import type { CallOptions, SessionState } from './types.js';
import type { WireKeepAliveRequest, WireKeepAliveResponse, WireOpenSessionResponse } from './wire.js';

export interface SessionEvents {
  /** Every transition: (new state, previous state). */
  state: [SessionState, SessionState];
  connected: [];
  suspended: [ArborError];
  lost: [ArborError];
  closed: [];
}

const LEGAL: { readonly [S in SessionState]: readonly SessionState[] } = {
  connected: ['suspended', 'lost', 'closed'],
  suspended: ['connected', 'lost', 'closed'],
  lost: ['closed'],
  closed: [],
};

type KeepAliveCall = grpc.ClientDuplexStream<WireKeepAliveRequest, WireKeepAliveResponse>;

export class Session extends EventEmitter<SessionEvents> {
  private current: SessionState = 'connected';
  /** Monotonic time the last acknowledged keep-alive was SENT (conservative: the server's
   *  expiry clock restarted no earlier than that). */
  private lastAckedSendMs: number;
  /** Send times of keep-alives not yet answered, oldest first (answers come in order). */
  private unanswered: number[] = [];
  private call: KeepAliveCall | undefined;
  /** True while a stream waits for a token before opening (at most one such wait). */
  private opening = false;
  private endpointIndex: number;
  private failures = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  /**
   * Fires exactly when the session may have expired on the server: timeout after the SEND time
   * of the last acknowledged keep-alive. The server measures from when it received it, so the
   * client always gives up first — a lock holder or leader steps down before anyone else can
   * take over (the periodic tick alone could notice up to a third of the timeout late).
   */
  private expiryTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /**
   * While suspended, keep-alives go out eight times per interval. Suspension is noticed a third
   * of the timeout after the last acknowledged keep-alive at best, and the session is given up
   * at nine tenths of it: at the regular pace no keep-alive would be sent in between, so a member
   * that answers again (or the one just failed over to) could not save the session.
   */
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  /** Use `ArborClient.session()`. */
  constructor(
    private readonly pool: EndpointPool,
    readonly id: bigint,
    readonly timeoutMs: number,
    private readonly onEnd: (s: Session) => void,
    private readonly auth?: StreamAuth,
  ) {
    super();
    this.intervalMs = Math.max(1, Math.floor(timeoutMs / 3));
    this.lastAckedSendMs = performance.now();
    this.endpointIndex = Math.floor(Math.random() * pool.endpoints.length);
    this.openStream();
    this.sendKeepAlive();
    this.tickTimer = setInterval(() => this.tick(), this.intervalMs);
    this.armExpiry();
  }

  static async open(
    pool: EndpointPool,
    opts: { timeoutMs: number } & CallOptions,
    onEnd: (s: Session) => void,
    auth?: StreamAuth,
  ): Promise<Session> {
    const seq = pool.sequencer.begin();
    try {
      const sentAt = performance.now();
      const res = await pool.retry(
        'write',
        opts,
        (ep, deadline) =>
          unaryCall<WireOpenSessionResponse>(
            ep.arborClient(),
            'OpenSession',
            { timeoutMs: String(opts.timeoutMs), header: headerToWire(pool.sequencer.header(seq)) },
            deadline,
            opts.signal,
          ),
        undefined,
        seq,
      );
      const granted = toNum(res.timeoutMs);
      const timeoutMs = granted > 0 ? granted : opts.timeoutMs;
      const s = new Session(pool, toBig(res.sessionId), timeoutMs, onEnd, auth);
      s.lastAckedSendMs = sentAt;
      return s;
    } finally {
      pool.sequencer.end(seq);
    }
  }

  get state(): SessionState {
    return this.current;
  }

  /** End the session on the server (its ephemerals go at once) and stop keep-alives. */
  async close(opts: CallOptions = {}): Promise<void> {
    const wasLive = this.current === 'connected' || this.current === 'suspended';
    this.stop();
    if (this.current !== 'closed') this.transition('closed');
    if (!wasLive || this.pool.isClosed) return;
    await this.auth?.ready();
    const seq = this.pool.sequencer.begin();
    try {
      await this.pool.retry(
        'write',
        opts,
        (ep, deadline) =>
          unaryCall(
            ep.arborClient(),
            'CloseSession',
            { sessionId: this.id.toString(), header: headerToWire(this.pool.sequencer.header(seq)) },
            deadline,
            opts.signal,
          ),
        undefined,
        seq,
      );
    } catch (e) {
      // Already gone on the server: the goal of close() is reached.
      if (!(toArborError(e) instanceof NoNodeError)) throw e;
    } finally {
      this.pool.sequencer.end(seq);
    }
  }

  /** Stop keep-alives without telling the server (client shutdown); the session will expire. */
  abandon(): void {
    this.stop();
    if (this.current !== 'closed') this.transition('closed');
  }

  private transition(to: SessionState, cause?: ArborError): void {
    const from = this.current;
    if (from === to) return;
    if (!LEGAL[from].includes(to)) throw new Error(`illegal session transition ${from} → ${to}`);
    this.current = to;
    clearInterval(this.retryTimer);
    this.retryTimer =
      to === 'suspended'
        ? setInterval(() => this.sendKeepAlive(), Math.max(1, Math.floor(this.intervalMs / 8)))
        : undefined;
    this.emit('state', to, from);
    switch (to) {
      case 'connected':
        this.emit('connected');
        break;
      case 'suspended':
        this.emit('suspended', cause ?? new DeadlineError('keep-alive not acknowledged'));
        break;
      case 'lost':
        this.emit('lost', cause ?? new DeadlineError('session expired'));
        break;
      case 'closed':
        this.emit('closed');
        break;
    }
  }

  private live(): boolean {
    return this.current === 'connected' || this.current === 'suspended';
  }

  private stop(): void {
    clearInterval(this.tickTimer);
    clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    clearTimeout(this.reconnectTimer);
    this.tickTimer = undefined;
    this.reconnectTimer = undefined;
    this.dropStream();
    this.onEnd(this);
  }

  private lose(cause: ArborError): void {
    if (!this.live()) return;
    this.stop();
    // Curator's order: a connected session is suspended before it is lost, so listeners that
    // pause work on 'suspended' always get the chance.
    this.suspend(cause);
    this.transition('lost', cause);
  }

  private suspend(cause: ArborError): void {
    if (this.current === 'connected') this.transition('suspended', cause);
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    // A margin for timer and event-loop delays on this side: giving up a little early is safe,
    // giving up late is not (another client may already hold what this session held).
    const margin = Math.min(Math.max(100, this.timeoutMs / 10), this.timeoutMs / 3);
    const left = this.lastAckedSendMs + this.timeoutMs - margin - performance.now();
    this.expiryTimer = setTimeout(
      () => {
        this.lose(
          new DeadlineError(`no keep-alive acknowledged within the session timeout (${this.timeoutMs} ms)`),
        );
      },
      Math.max(0, left),
    );
  }

  private tick(): void {
    if (!this.live()) return;
    const now = performance.now();
    if (now - this.lastAckedSendMs >= this.timeoutMs) {
      this.lose(
        new DeadlineError(`no keep-alive acknowledged within the session timeout (${this.timeoutMs} ms)`),
      );
      return;
    }
    const oldest = this.unanswered[0];
    if (oldest !== undefined && now - oldest >= this.intervalMs) {
      // The member stopped answering without breaking the stream: try another one.
      this.suspend(new DeadlineError('keep-alive not acknowledged in time'));
      this.dropStream();
      this.failures++;
      this.endpointIndex++;
      this.openStream();
    }
    this.sendKeepAlive();
  }

  /**
   * Opens a KeepAlive stream unless one is open or opening. Without credentials it opens at once
   * (the caller sends the first keep-alive); with them it waits for a token and then sends the
   * first keep-alive itself.
   */
  private openStream(): void {
    if (this.call || this.opening || !this.live()) return;
    if (this.auth === undefined) {
      this.startStream();
      return;
    }
    this.opening = true;
    void this.auth.ready().then(
      () => {
        this.opening = false;
        if (this.startStream()) this.sendKeepAlive();
      },
      (e: unknown) => {
        this.opening = false;
        if (this.live() && !this.call) this.onStreamError(toArborError(e));
      },
    );
  }

  /** True if a stream was opened. */
  private startStream(): boolean {
    if (this.call || !this.live()) return false;
    const endpoint = this.pool.endpointAt(this.endpointIndex);
    let call: KeepAliveCall;
    try {
      const client = endpoint.arborClient();
      call = (client as unknown as Record<string, () => KeepAliveCall>)['KeepAlive']!.call(client);
    } catch (e) {
      this.lose(toArborError(e));
      return false;
    }
    this.call = call;
    this.unanswered = [];
    call.on('data', (res: WireKeepAliveResponse) => {
      if (this.call === call) this.onKeepAlive(res);
    });
    call.on('error', (e: unknown) => {
      if (this.call === call) this.onStreamError(toArborError(e));
    });
    call.on('status', (st: grpc.StatusObject) => {
      if (this.call === call && st.code === Status.OK)
        this.onStreamError(toArborError(new Error('keep-alive stream ended')));
    });
    return true;
  }

  private dropStream(): void {
    const call = this.call;
    this.call = undefined;
    this.unanswered = [];
    call?.cancel();
  }

  private sendKeepAlive(): void {
    if (!this.call) return;
    this.unanswered.push(performance.now());
    this.call.write({ sessionId: this.id.toString() });
  }

  private onKeepAlive(res: WireKeepAliveResponse): void {
    if (!this.live()) return;
    if (toNum(res.ttlMs) <= 0) {
      this.lose(new NoNodeError(`session ${this.id} expired on the server`));
      return;
    }
    const sentAt = this.unanswered.shift() ?? performance.now();
    this.lastAckedSendMs = Math.max(this.lastAckedSendMs, sentAt);
    this.armExpiry();
    this.failures = 0;
    if (this.current === 'suspended') this.transition('connected');
  }

  private onStreamError(e: ArborError): void {
    this.call = undefined;
    this.unanswered = [];
    if (!this.live()) return;
    if (e instanceof NoNodeError) {
      // The server does not know this session: it expired or was closed.
      this.lose(e);
      return;
    }
    // The token expired (or auth was re-keyed): the next stream opens with a new one.
    if (e instanceof UnauthenticatedError) this.auth?.refused();
    this.suspend(e);
    this.failures++;
    this.endpointIndex++;
    const delay = Math.min(
      this.intervalMs,
      backoffMs(this.failures, this.pool.endpoints.length, this.pool.backoff),
    );
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openStream();
      this.sendKeepAlive();
    }, delay);
  }
}
