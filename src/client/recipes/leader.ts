/**
 * Leader election (ZooKeeper recipe "Leader Election"; Curator's LeaderLatch and
 * LeaderSelector). Candidates queue as ephemeral-sequential nodes under one directory and the
 * lowest holds leadership; everyone else watches only its predecessor. The leader's node data
 * is its participant id, so anyone can observe who leads (LeaderObserver).
 *
 * Step-down: leadership ends when the session is lost or closed (the client declares loss
 * before the server can expire the session, so the old leader has stepped down before a
 * successor's turn comes) or when the leader's node is deleted. A 'suspended' session keeps
 * leadership: the server still holds the session, and a new Raft leader grants every session
 * a fresh timeout. Work done as leader should go through `lease` guarded writes, which the
 * server refuses once leadership is gone, whatever the clocks did.
 */
import { EventEmitter } from 'node:events';
import { sleep } from '../abort.js';
import type { ArborClient } from '../client.js';
import { NoNodeError, toArborError } from '../errors.js';
import type { Session } from '../session.js';
import { contend, exclusive, CONTENDER_MARKER } from './contend.js';
import {
  anySignal,
  ensurePath,
  joinPath,
  sequenced,
  throwIfAborted,
  timeoutSignal,
  waitForEvent,
  changeUntil,
} from './internal.js';
import { Lease } from './lease.js';
import { Mutex } from './lock.js';

export interface LeaderInfo {
  /** The participant id the leader registered with. */
  readonly id: string;
  readonly path: string;
  /** The leader's fencing token (createdRevision of its node). */
  readonly token: number;
}

export interface LeaderLatchEvents {
  leader: [Lease];
  follower: [];
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

function sessionLive(session: Session): boolean {
  return session.state === 'connected' || session.state === 'suspended';
}

/**
 * Joins the election and stays in it until closed or the session ends; `isLeader` and the
 * 'leader' / 'follower' events tell the state. After its node is deleted by someone else while
 * the session lives, it re-joins at the back of the line.
 */
export class LeaderLatch extends EventEmitter<LeaderLatchEvents> {
  private current: Lease | undefined;
  private readonly closing = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: ArborClient,
    private readonly session: Session,
    readonly path: string,
    readonly id: string,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.current?.isHeld ?? false;
  }

  /** The lease while leader (its token fences writes), undefined otherwise. */
  get lease(): Lease | undefined {
    return this.isLeader ? this.current : undefined;
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** Resolves with the lease once leader; rejects on signal, timeout, close or session end. */
  async awaitLeadership(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Lease> {
    const timeout = timeoutSignal(opts.timeoutMs, `awaiting leadership of ${this.path}`);
    const signal = anySignal(opts.signal, timeout.signal, this.closing.signal);
    try {
      for (;;) {
        const l = this.lease;
        if (l) return l;
        throwIfAborted(signal);
        if (!sessionLive(this.session)) throw new NoNodeError(`session ended: ${this.path} latch is out`);
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.off('leader', done);
            signal.removeEventListener('abort', done);
            this.session.off('state', done);
            resolve();
          };
          this.on('leader', done);
          this.session.on('state', done);
          signal.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      timeout.dispose();
    }
  }

  /** Leave the election (deleting the node, so the next candidate takes over at once). */
  async close(): Promise<void> {
    this.closing.abort();
    await this.current?.release();
    await this.loop;
  }

  private async run(): Promise<void> {
    const data = Buffer.from(this.id);
    let failures = 0;
    while (!this.closing.signal.aborted && sessionLive(this.session)) {
      let lease: Lease;
      try {
        const node = await contend(this.client, this.session, this.path, 'latch', data, exclusive, {
          signal: this.closing.signal,
        });
        lease = new Lease(this.client, this.session, node);
        failures = 0;
      } catch (e) {
        if (this.closing.signal.aborted || !sessionLive(this.session)) break;
        // Transient (e.g. no quorum for longer than the call deadline): try again.
        if (!toArborError(e).isRetryable && !(e instanceof NoNodeError)) throw e;
        await sleep(Math.min(1000, 50 * 2 ** failures++), this.closing.signal).catch(() => undefined);
        continue;
      }
      this.current = lease;
      if (this.closing.signal.aborted) break;
      this.emit('leader', lease);
      await untilAborted(lease.signal);
      this.current = undefined;
      this.emit('follower');
    }
    if (this.current) {
      const l = this.current;
      this.current = undefined;
      await l.release().catch(() => undefined);
      this.emit('follower');
    }
  }
}

export interface LeaderSelectorOptions {
  /** Join the election again after leadership ends (default true). */
  readonly autoRequeue?: boolean;
  /** Called with errors thrown by the leadership callback (default: console.error). */
  readonly onError?: (e: unknown) => void;
}

/**
 * Runs `takeLeadership(lease)` whenever this participant becomes leader; leadership lasts
 * until the callback returns (then the node is deleted and the next candidate leads). The
 * callback must stop when `lease.signal` aborts (session lost, node deleted).
 */
export class LeaderSelector {
  private readonly mutex: Mutex;
  private readonly closing = new AbortController();
  private loop: Promise<void> | undefined;
  private current: Lease | undefined;

  constructor(
    private readonly client: ArborClient,
    private readonly session: Session,
    readonly path: string,
    readonly id: string,
    private readonly takeLeadership: (lease: Lease) => Promise<void>,
    private readonly opts: LeaderSelectorOptions = {},
  ) {
    this.mutex = new Mutex(client, session, path, { data: id });
  }

  get isLeader(): boolean {
    return this.current?.isHeld ?? false;
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** Leave the election; a running callback sees its lease signal abort. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.current?.release();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closing.signal.aborted && sessionLive(this.session)) {
      let lease: Lease;
      try {
        lease = await this.mutex.acquire({ signal: this.closing.signal });
        failures = 0;
      } catch (e) {
        if (this.closing.signal.aborted || !sessionLive(this.session)) break;
        if (!toArborError(e).isRetryable && !(e instanceof NoNodeError)) throw e;
        await sleep(Math.min(1000, 50 * 2 ** failures++), this.closing.signal).catch(() => undefined);
        continue;
      }
      this.current = lease;
      try {
        if (!this.closing.signal.aborted) await this.takeLeadership(lease);
      } catch (e) {
        (this.opts.onError ?? ((x: unknown) => console.error('leadership callback failed', x)))(e);
      } finally {
        this.current = undefined;
        await lease.release().catch(() => undefined);
      }
      if (this.opts.autoRequeue === false) break;
    }
  }
}

export interface LeaderObserverEvents {
  change: [LeaderInfo | undefined];
}

/** Who leads the election at `path`, kept current from watch events; for anyone, no session needed. */
export class LeaderObserver extends EventEmitter<LeaderObserverEvents> {
  private leader: LeaderInfo | undefined;
  private readonly stop = new AbortController();
  private readonly loop: Promise<void>;
  private resolveReady!: () => void;
  private readonly readyP = new Promise<void>((r) => (this.resolveReady = r));

  constructor(
    private readonly client: ArborClient,
    readonly path: string,
  ) {
    super();
    this.loop = this.run();
  }

  get current(): LeaderInfo | undefined {
    return this.leader;
  }

  /** Resolves after the first read. */
  ready(): Promise<void> {
    return this.readyP;
  }

  /** Resolves with the first leader state `pred` accepts (checked now, then on every change). */
  async waitFor(
    pred: (l: LeaderInfo | undefined) => boolean,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<LeaderInfo | undefined> {
    await this.ready();
    const what = `waiting for a leader of ${this.path}`;
    await changeUntil(this, () => pred(this.leader), what, opts, this.stop.signal);
    return this.leader;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await ensurePath(this.client, this.path, signal);
        for (;;) {
          const { children, revision } = await this.client.children(this.path, { signal });
          const first = sequenced(children, CONTENDER_MARKER)[0];
          let next: LeaderInfo | undefined;
          if (first !== undefined) {
            const p = joinPath(this.path, first);
            try {
              const got = await this.client.get(p, { signal });
              next = { id: got.data.toString(), path: p, token: got.stat.createdRevision };
            } catch (e) {
              if (!(toArborError(e) instanceof NoNodeError)) throw e;
              continue; // gone between the two reads: list again
            }
          }
          if (next?.path !== this.leader?.path) {
            this.leader = next;
            this.emit('change', next);
          }
          this.resolveReady();
          failures = 0;
          await waitForEvent(this.client, this.path, 'children', revision + 1, signal);
        }
      } catch {
        // Every error is retried: an observer never gives up while open.
        if (signal.aborted) break;
        await sleep(Math.min(1000, 50 * 2 ** failures++), signal).catch(() => undefined);
      }
    }
  }
}
