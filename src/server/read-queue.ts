/**
 * Linearizable reads, batched: every read that arrives while no ReadIndex round is outstanding
 * starts one; reads arriving meanwhile share the next round (§6.4, batched like etcd's
 * linearizableReadLoop). A batch is served once the member has applied the read index.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { MemberError } from './errors.js';
import type { Deferred } from './deferred.js';

interface Waiter {
  readonly d: Deferred<number>;
  readonly deadline: number;
}

interface Batch {
  readonly id: number;
  readonly waiters: Waiter[];
  /** Set when the ReadState arrives: serve once applied >= index. */
  index: number;
  /** When to ask again if no ReadState came back (lost message, leader change). */
  retryAt: number;
}

export class ReadQueue {
  private nextId = 1;
  private queued: Waiter[] = [];
  private readonly inflight = new Map<number, Batch>();

  get pending(): number {
    return this.queued.length + this.inflight.size;
  }

  enqueue(d: Deferred<number>, deadline: number): void {
    this.queued.push({ d, deadline });
  }

  /** Takes the queued reads as a new batch; returns its context for RawNode.readIndex. */
  startBatch(now: number, retryMs: number): Uint8Array | undefined {
    if (this.queued.length === 0) return undefined;
    const batch: Batch = { id: this.nextId++, waiters: this.queued, index: -1, retryAt: now + retryMs };
    this.queued = [];
    this.inflight.set(batch.id, batch);
    return encodeCtx(batch.id);
  }

  /** Batches whose ReadState never came: contexts to ask again with. */
  retries(now: number, retryMs: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const b of this.inflight.values()) {
      if (b.index < 0 && b.retryAt <= now) {
        b.retryAt = now + retryMs;
        out.push(encodeCtx(b.id));
      }
    }
    return out;
  }

  onReadState(ctx: Uint8Array, index: number): void {
    const id = decodeCtx(ctx);
    const b = id === undefined ? undefined : this.inflight.get(id);
    if (b && b.index < 0) b.index = index;
  }

  /** Serves every batch whose read index has been applied. */
  serve(applied: number): void {
    for (const [id, b] of this.inflight) {
      if (b.index >= 0 && b.index <= applied) {
        this.inflight.delete(id);
        for (const w of b.waiters) w.d.resolve(applied);
      }
    }
  }

  expire(now: number): void {
    const timeout = (w: Waiter): boolean => {
      if (w.deadline > now) return false;
      w.d.reject(new MemberError('deadlineExceeded', 'no leader confirmed the read before the deadline'));
      return true;
    };
    this.queued = this.queued.filter((w) => !timeout(w));
    for (const [id, b] of this.inflight) {
      const left = b.waiters.filter((w) => !timeout(w));
      b.waiters.length = 0;
      b.waiters.push(...left);
      if (left.length === 0) this.inflight.delete(id);
    }
  }

  rejectAll(err: MemberError): void {
    for (const w of this.queued) w.d.reject(err);
    for (const b of this.inflight.values()) for (const w of b.waiters) w.d.reject(err);
    this.queued = [];
    this.inflight.clear();
  }
}

function encodeCtx(id: number): Uint8Array {
  return new ByteWriter(8).uvarint(id).finish();
}

function decodeCtx(ctx: Uint8Array): number | undefined {
  try {
    return new ByteReader(ctx).uvarint();
  } catch {
    return undefined;
  }
}
