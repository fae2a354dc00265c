/**
 * Barriers (ZooKeeper recipes "Barriers" and "Double Barriers"; Curator's DistributedBarrier
 * and DistributedDoubleBarrier). Every wait is a watch from the revision of the read that
 * decided to wait, so a change in between is never missed.
 */
import type { ArborClient } from '../client.js';
import { NodeExistsError, toArborError } from '../errors.js';
import type { Session } from '../session.js';
import {
  anySignal,
  deleteIfExists,
  ensurePath,
  joinPath,
  throwIfAborted,
  timeoutSignal,
  waitForEvent,
} from './internal.js';
import { sessionEndSignal } from './internal.js';

export interface WaitOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** A gate: while the node at `path` exists, `wait()` blocks; removing it releases every waiter. */
export class Barrier {
  constructor(
    private readonly client: ArborClient,
    readonly path: string,
  ) {}

  async raise(): Promise<void> {
    await ensurePath(this.client, this.path);
  }

  async lower(): Promise<void> {
    await deleteIfExists(this.client, this.path);
  }

  /** Resolves once the barrier is down (at once if it is not raised). */
  async wait(opts: WaitOptions = {}): Promise<void> {
    const timeout = timeoutSignal(opts.timeoutMs, `waiting on barrier ${this.path}`);
    const signal = anySignal(opts.signal, timeout.signal);
    try {
      for (;;) {
        throwIfAborted(signal);
        const ex = await this.client.exists(this.path, { signal });
        if (!ex.exists) return;
        await waitForEvent(
          this.client,
          this.path,
          'node',
          ex.revision + 1,
          signal,
          (e) => e.type === 'deleted',
        );
      }
    } finally {
      timeout.dispose();
    }
  }
}

const READY = 'ready';

/**
 * `count` participants enter together and leave together. Each participant is an ephemeral
 * node `<path>/<id>`; the one that completes the set creates `<path>/ready`, which releases
 * everyone's enter(). Leaving follows ZooKeeper's recipe: the lowest id waits for the highest
 * to go, every other participant deletes itself and waits for the lowest, so no leave()
 * returns before every participant has called leave(). Single use: take a fresh path per round.
 */
export class DoubleBarrier {
  private readonly node: string;

  constructor(
    private readonly client: ArborClient,
    private readonly session: Session,
    readonly path: string,
    readonly count: number,
    /** This participant's name; unique among the participants. */
    readonly id: string,
  ) {
    if (id === READY) throw new RangeError(`participant id "${READY}" is reserved`);
    this.node = joinPath(path, id);
  }

  async enter(opts: WaitOptions = {}): Promise<void> {
    const ended = sessionEndSignal(this.session);
    const timeout = timeoutSignal(opts.timeoutMs, `entering ${this.path}`);
    const signal = anySignal(opts.signal, timeout.signal, ended.signal);
    const readyPath = joinPath(this.path, READY);
    try {
      await ensurePath(this.client, this.path, signal);
      try {
        await this.client.create(this.node, undefined, {
          mode: 'ephemeral',
          sessionId: this.session.id,
          signal,
        });
      } catch (e) {
        if (!(toArborError(e) instanceof NodeExistsError)) throw e;
      }
      for (;;) {
        throwIfAborted(signal);
        const { children, revision } = await this.client.children(this.path, { signal });
        if (children.includes(READY)) return;
        if (children.length >= this.count) {
          try {
            await this.client.create(readyPath, undefined, { signal });
          } catch (e) {
            if (!(toArborError(e) instanceof NodeExistsError)) throw e;
          }
          return;
        }
        await waitForEvent(this.client, readyPath, 'node', revision + 1, signal, (e) => e.type === 'created');
      }
    } finally {
      timeout.dispose();
      ended.dispose();
    }
  }

  async leave(opts: WaitOptions = {}): Promise<void> {
    const timeout = timeoutSignal(opts.timeoutMs, `leaving ${this.path}`);
    const signal = anySignal(opts.signal, timeout.signal);
    try {
      for (;;) {
        throwIfAborted(signal);
        const { children, revision } = await this.client.children(this.path, { signal });
        const parts = children.filter((c) => c !== READY).sort();
        const lowest = parts[0];
        const highest = parts[parts.length - 1];
        if (lowest === undefined || highest === undefined) break;
        const mine = parts.includes(this.id);
        if (mine && parts.length === 1) {
          await deleteIfExists(this.client, this.node);
          break;
        }
        let waitOn: string;
        if (mine && lowest === this.id) {
          waitOn = highest;
        } else {
          if (mine) await deleteIfExists(this.client, this.node);
          waitOn = lowest;
        }
        await waitForEvent(
          this.client,
          joinPath(this.path, waitOn),
          'node',
          revision + 1,
          signal,
          (e) => e.type === 'deleted',
        );
      }
      // Whoever finds the barrier empty tidies up; others may race it, which is harmless.
      await deleteIfExists(this.client, joinPath(this.path, READY));
    } finally {
      timeout.dispose();
    }
  }
}
