/**
 * Locks on ephemeral-sequential nodes (ZooKeeper recipes "Locks", "Shared Locks"; Curator's
 * InterProcessMutex, InterProcessReadWriteLock, InterProcessSemaphoreV2). Locks are not
 * re-entrant: acquiring twice from one process queues twice. Each acquisition returns a Lease
 * with a fencing token and guarded writes (lease.ts).
 */
import type { ArborClient } from '../client.js';
import { toBytes } from '../convert.js';
import type { Session } from '../session.js';
import type { Data } from '../types.js';
import { contend, exclusive, kindOf, tryContend, type ContendOptions, type Planner } from './contend.js';
import { joinPath } from './internal.js';
import { Lease } from './lease.js';

export type AcquireOptions = ContendOptions;

export interface LockOptions {
  /** Stored in the lock node (e.g. who holds it); shown to observers. */
  readonly data?: Data;
}

/** A reader waits for the last writer queued before it, and only for that one. */
export const readerPlan: Planner = (ordered, mine, dir) => {
  for (let i = mine - 1; i >= 0; i--) {
    const name = ordered[i] as string;
    if (kindOf(name) === 'write') return { type: 'wait', path: joinPath(dir, name), scope: 'node' };
  }
  return { type: 'acquired' };
};

/** The first `permits` contenders hold; the first waiter watches the directory, later ones their predecessor. */
export function semaphorePlan(permits: number): Planner {
  return (ordered, mine, dir) => {
    if (mine < permits) return { type: 'acquired' };
    if (mine === permits) return { type: 'wait', path: dir, scope: 'children' };
    return { type: 'wait', path: joinPath(dir, ordered[mine - 1] as string), scope: 'node' };
  };
}

/** A mutual-exclusion lock at `path` (a directory of contender nodes). */
export class Mutex {
  constructor(
    private readonly client: ArborClient,
    private readonly session: Session,
    readonly path: string,
    private readonly opts: LockOptions = {},
  ) {}

  /** Wait until this contender is first in line. Rejects on signal/timeout/session end. */
  async acquire(opts: AcquireOptions = {}): Promise<Lease> {
    const node = await contend(
      this.client,
      this.session,
      this.path,
      'lock',
      toBytes(this.opts.data),
      exclusive,
      opts,
    );
    return new Lease(this.client, this.session, node);
  }

  /** Acquire only if nobody holds or waits for the lock right now. */
  async tryAcquire(): Promise<Lease | undefined> {
    const node = await tryContend(
      this.client,
      this.session,
      this.path,
      'lock',
      toBytes(this.opts.data),
      exclusive,
    );
    return node && new Lease(this.client, this.session, node);
  }
}

/**
 * Readers share, writers exclude (ZooKeeper "Shared Locks"): a reader waits only for the last
 * writer queued before it; a writer waits for its immediate predecessor, reader or writer. A
 * queued writer therefore blocks later readers (no writer starvation).
 */
export class ReadWriteLock {
  readonly readLock: { acquire(opts?: AcquireOptions): Promise<Lease> };
  readonly writeLock: { acquire(opts?: AcquireOptions): Promise<Lease> };

  constructor(
    client: ArborClient,
    session: Session,
    readonly path: string,
    opts: LockOptions = {},
  ) {
    const data = toBytes(opts.data);
    this.readLock = {
      acquire: async (o = {}) =>
        new Lease(client, session, await contend(client, session, path, 'read', data, readerPlan, o)),
    };
    this.writeLock = {
      acquire: async (o = {}) =>
        new Lease(client, session, await contend(client, session, path, 'write', data, exclusive, o)),
    };
  }
}

/**
 * At most `permits` holders at once. All users of one path must agree on `permits`.
 * Herd-free waiting: the first waiter (index == permits) watches the directory's children, so
 * any release wakes it alone; every later waiter watches its predecessor, which announces its
 * own acquisition by rewriting its node (one `set`), waking exactly its successor.
 */
export class Semaphore {
  private readonly planner: Planner;

  constructor(
    private readonly client: ArborClient,
    private readonly session: Session,
    readonly path: string,
    readonly permits: number,
    private readonly opts: LockOptions = {},
  ) {
    if (!Number.isInteger(permits) || permits < 1)
      throw new RangeError(`permits must be ≥ 1, got ${permits}`);
    this.planner = semaphorePlan(permits);
  }

  async acquire(opts: AcquireOptions = {}): Promise<Lease> {
    const data = toBytes(this.opts.data);
    const node = await contend(this.client, this.session, this.path, 'lease', data, this.planner, opts);
    const lease = new Lease(this.client, this.session, node);
    // Wake our successor: it may now be the first waiter.
    if (node.waited) await this.client.set(node.path, data).catch(() => undefined);
    return lease;
  }

  async tryAcquire(): Promise<Lease | undefined> {
    const data = toBytes(this.opts.data);
    const node = await tryContend(this.client, this.session, this.path, 'lease', data, this.planner);
    return node && new Lease(this.client, this.session, node);
  }
}
