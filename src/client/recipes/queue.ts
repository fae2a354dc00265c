/**
 * A distributed FIFO queue with priorities (ZooKeeper recipes "Queues" and "Priority Queues").
 * An item is a persistent-sequential node `<path>/qPPPP-NNNNNNNNNN`: PPPP is the priority
 * (0 … 9999, lower is served first) and NNNNNNNNNN the parent's sequence counter, so the
 * children's names sort in service order: by priority, then by the order the puts committed.
 * A consumer reads the head item and deletes it at the version it read; the delete decides
 * which consumer owns the item (exactly one succeeds). Delivery is at-most-once: an item taken
 * by a consumer that then crashes is gone — put it back if processing fails.
 */
import type { ArborClient } from '../client.js';
import { FailedPreconditionError, NoNodeError, toArborError } from '../errors.js';
import type { CallOptions, Data } from '../types.js';
import {
  anySignal,
  ensurePath,
  joinPath,
  sequenceOf,
  throwIfAborted,
  timeoutSignal,
  waitForEvent,
} from './internal.js';

export const MAX_PRIORITY = 9999;
const ITEM = /^q(\d{4})-\d{10}$/;

export interface QueueItem {
  readonly data: Buffer;
  readonly priority: number;
  /** The node name, e.g. q0000-0000000042. */
  readonly name: string;
  /** The position counter: increasing in put order (across all priorities). */
  readonly sequence: number;
}

export class DistributedQueue {
  private ensured = false;

  constructor(
    private readonly client: ArborClient,
    readonly path: string,
  ) {}

  /** Append an item; lower `priority` is served first (default 0, the highest). */
  async put(data: Data, opts: CallOptions & { priority?: number } = {}): Promise<string> {
    const priority = opts.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
      throw new RangeError(`priority must be an integer in 0…${MAX_PRIORITY}, got ${priority}`);
    }
    await this.ensure(opts.signal);
    const prefix = `q${String(priority).padStart(4, '0')}-`;
    const r = await this.client.create(joinPath(this.path, prefix), data, {
      ...opts,
      mode: 'persistent-sequential',
    });
    return r.path;
  }

  /** Take the head item if there is one. */
  async poll(opts: CallOptions = {}): Promise<QueueItem | undefined> {
    await this.ensure(opts.signal);
    return (await this.tryTake(opts.signal)).item;
  }

  /** Take the head item, waiting for one to be put if the queue is empty. */
  async take(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<QueueItem> {
    const timeout = timeoutSignal(opts.timeoutMs, `taking from ${this.path}`);
    const signal = anySignal(opts.signal, timeout.signal);
    try {
      await this.ensure(signal);
      for (;;) {
        throwIfAborted(signal);
        const { item, revision } = await this.tryTake(signal);
        if (item) return item;
        // Every consumer of an empty queue wakes on a put: inherent to a shared queue.
        await this.waitForPut(revision, signal);
      }
    } finally {
      timeout.dispose();
    }
  }

  /** Items currently queued, in service order. */
  async peek(opts: CallOptions = {}): Promise<string[]> {
    await this.ensure(opts.signal);
    const { children } = await this.client.children(this.path, opts);
    return children.filter((c) => ITEM.test(c)).sort();
  }

  private async waitForPut(revision: number, signal: AbortSignal): Promise<void> {
    await waitForEvent(this.client, this.path, 'children', revision + 1, signal, (e) => e.type === 'created');
  }

  private async tryTake(signal: AbortSignal | undefined): Promise<{ item?: QueueItem; revision: number }> {
    const { children, revision } = await this.client.children(this.path, signal ? { signal } : {});
    for (const name of children.filter((c) => ITEM.test(c)).sort()) {
      const path = joinPath(this.path, name);
      try {
        const got = await this.client.get(path, signal ? { signal } : {});
        await this.client.delete(path, { expectedVersion: got.stat.version });
        const priority = Number(ITEM.exec(name)?.[1] ?? 0);
        return { item: { data: got.data, priority, name, sequence: sequenceOf(name) }, revision };
      } catch (e) {
        const err = toArborError(e);
        // Another consumer took it (or changed it) first: try the next one.
        if (err instanceof NoNodeError || err instanceof FailedPreconditionError) continue;
        throw err;
      }
    }
    return { revision };
  }

  private async ensure(signal: AbortSignal | undefined): Promise<void> {
    if (this.ensured) return;
    await ensurePath(this.client, this.path, signal);
    this.ensured = true;
  }
}
