/**
 * A held lock, permit or leadership: the contender node, its fencing token and the guarded
 * writes that make "still holding it" part of the write itself. The token is the node's
 * createdRevision, so successive holders of an exclusive lock carry strictly increasing tokens
 * (Kleppmann's fencing tokens; ZooKeeper's zxid of the lock node). The guard is a Multi whose
 * first op is a `check` of the lock node: once the node is gone (released, session expired,
 * deleted), the server refuses the whole write, however late the old holder wakes up.
 */
import type { ArborClient } from '../client.js';
import { FailedPreconditionError, NoNodeError, toArborError, type ArborErrorInit } from '../errors.js';
import type { Session } from '../session.js';
import type { CallOptions, CreateOptions, Data, Op, OpResult, SetResult } from '../types.js';
import type { Contender } from './contend.js';
import { deleteIfExists, sessionEndSignal, waitForEvent } from './internal.js';

/** A guarded write was refused because the lock node no longer exists: the lock was lost. */
export class LockLostError extends FailedPreconditionError {
  constructor(message: string, init?: ArborErrorInit) {
    super(message, init);
    Object.defineProperty(this, 'name', { value: 'LockLostError' });
  }
}

export class Lease {
  /** Path of the contender node (the thing a guard checks). */
  readonly path: string;
  /** The fencing token: the revision that created the lock node. */
  readonly token: number;
  private readonly lost = new AbortController();
  private readonly stopWatch = new AbortController();
  private readonly ended: { signal: AbortSignal; dispose(): void };
  private released = false;

  /** Built by the recipes. */
  constructor(
    private readonly client: ArborClient,
    session: Session,
    node: Contender,
  ) {
    this.path = node.path;
    this.token = node.createdRevision;
    this.ended = sessionEndSignal(session);
    const onEnd = (): void => this.markLost(this.ended.signal.reason);
    if (this.ended.signal.aborted) onEnd();
    else this.ended.signal.addEventListener('abort', onEnd, { once: true });
    void this.watchOwnNode().catch((e: unknown) => this.markLost(toArborError(e)));
  }

  /**
   * Aborts when the lease is certainly or possibly lost: session lost/closed (the client
   * declares loss before the server can expire the session) or the node deleted. Stop
   * acting as holder when it fires. Guarded writes stay safe either way.
   */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  get isHeld(): boolean {
    return !this.lost.signal.aborted && !this.released;
  }

  /** `ops` preceded by the check that makes them conditional on this lease. */
  guard(ops: readonly Op[]): Op[] {
    return [{ type: 'check', path: this.path, expectedVersion: -1 }, ...ops];
  }

  /** Apply `ops` atomically if and only if this lease still holds; LockLostError otherwise. */
  async multi(ops: readonly Op[], opts: CallOptions = {}): Promise<OpResult[]> {
    try {
      return (await this.client.multi(this.guard(ops), opts)).slice(1);
    } catch (e) {
      const err = toArborError(e);
      if (err.failedOp === 0) {
        throw new LockLostError(`lock node ${this.path} is gone: the lease (token ${this.token}) was lost`, {
          cause: err,
          failedOp: 0,
        });
      }
      throw err;
    }
  }

  async set(
    path: string,
    data: Data,
    opts: CallOptions & { expectedVersion?: number } = {},
  ): Promise<SetResult> {
    const [r] = await this.multi(
      [
        {
          type: 'set',
          path,
          data,
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
        },
      ],
      opts,
    );
    if (r?.type !== 'set') throw new Error('multi answered a set with another result');
    return { stat: r.stat };
  }

  async create(path: string, data?: Data, opts: CreateOptions = {}): Promise<string> {
    const op: Op = {
      type: 'create',
      path,
      ...(data !== undefined ? { data } : {}),
      ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
      ...(opts.sessionId !== undefined ? { sessionId: opts.sessionId } : {}),
      ...(opts.createParents !== undefined ? { createParents: opts.createParents } : {}),
    };
    const [r] = await this.multi([op], opts);
    if (r?.type !== 'create') throw new Error('multi answered a create with another result');
    return r.path;
  }

  async delete(path: string, opts: CallOptions & { expectedVersion?: number } = {}): Promise<void> {
    await this.multi(
      [
        {
          type: 'delete',
          path,
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
        },
      ],
      opts,
    );
  }

  /** Give the lease up (delete the node). Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopWatch.abort();
    this.ended.dispose();
    this.markLost(new Error('released'));
    await deleteIfExists(this.client, this.path);
  }

  /** Stop watching without deleting (the session's end will); used when the client shuts down. */
  abandon(): void {
    this.released = true;
    this.stopWatch.abort();
    this.ended.dispose();
    this.markLost(new Error('abandoned'));
  }

  private markLost(reason: unknown): void {
    if (!this.lost.signal.aborted) this.lost.abort(reason);
    this.stopWatch.abort();
  }

  /** Node-scope watch on our own node: its deletion means the lease is gone. */
  private async watchOwnNode(): Promise<void> {
    let from = this.token + 1;
    const stop = this.stopWatch.signal;
    while (!stop.aborted) {
      let outcome;
      try {
        outcome = await waitForEvent(this.client, this.path, 'node', from, stop, (e) => e.type === 'deleted');
      } catch (e) {
        if (stop.aborted) return;
        throw e;
      }
      if (outcome === 'event') {
        this.markLost(new NoNodeError(`lock node ${this.path} was deleted`));
        return;
      }
      const ex = await this.client.exists(this.path);
      if (!ex.exists) {
        this.markLost(new NoNodeError(`lock node ${this.path} was deleted`));
        return;
      }
      from = ex.revision + 1;
    }
  }
}
