/**
 * The pool's retry rounds for sequenced writes: whatever order their attempts failed in, the
 * writes go out again together, lowest sequence first, to one member; a write issued meanwhile
 * waits its turn; backoff, deadlines and aborts still hold. No network: attempts are functions.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, CancelledError, DeadlineError, UnavailableError } from '../../src/client/errors.js';
import type { Endpoint } from '../../src/client/endpoint.js';
import { EndpointPool } from '../../src/client/pool.js';

const pools: EndpointPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

function pool(backoff = { baseMs: 5, maxMs: 20 }): EndpointPool {
  const p = new EndpointPool({
    endpoints: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'],
    clientId: 'c',
    defaultDeadlineMs: 10_000,
    attemptTimeoutMs: 1_000,
    credentials: grpc.credentials.createInsecure(),
    transport: 'stream',
    backoff,
  });
  pools.push(p);
  return p;
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Attempt {
  readonly seq: number;
  readonly n: number;
  readonly address: string;
}

describe('EndpointPool retry rounds', () => {
  it('re-sends failed writes together, in sequence order, to one member', async () => {
    const p = pool();
    const log: Attempt[] = [];
    const tries = new Map<number, number>();
    const write = (seq: number): Promise<string> =>
      p.retry(
        'write',
        {},
        async (ep: Endpoint) => {
          const n = (tries.get(seq) ?? 0) + 1;
          tries.set(seq, n);
          log.push({ seq, n, address: ep.address });
          // First attempts fail in reverse order of sequence, as answers of a broken stream might.
          if (n === 1) {
            await tick(5 * (6 - seq));
            throw new UnavailableError('stream broken');
          }
          return `ok ${seq}`;
        },
        undefined,
        seq,
      );
    const results = await Promise.all([1, 2, 3, 4, 5].map(write));
    expect(results).toEqual([1, 2, 3, 4, 5].map((s) => `ok ${s}`));
    const retries = log.filter((a) => a.n === 2);
    expect(retries.map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(retries.map((a) => a.address)).size).toBe(1);
    expect(retries[0]!.address).not.toBe(log[0]!.address);
  });

  it('holds a new write back while earlier ones wait for their round', async () => {
    const p = pool({ baseMs: 30, maxMs: 30 });
    const order: number[] = [];
    let failNext = 3; // three failed rounds in a row: the third one backs off
    const attempt = (seq: number) => (): Promise<number> => {
      order.push(seq);
      if (seq === 1 && failNext-- > 0) return Promise.reject(new AbortedError('refused'));
      return Promise.resolve(seq);
    };
    const first = p.retry('write', {}, attempt(1), undefined, 1);
    await tick(5);
    // Write 2 comes while write 1 waits out the backoff: it must not go first.
    const second = p.retry('write', {}, attempt(2), undefined, 2);
    await Promise.all([first, second]);
    expect(order.filter((s) => s === 2)).toEqual([2]);
    expect(order.indexOf(2)).toBeGreaterThan(order.lastIndexOf(1));
  });

  it('a waiting write still meets its deadline and its abort signal', async () => {
    const p = pool({ baseMs: 5_000, maxMs: 5_000 });
    const failing = (): Promise<never> => Promise.reject(new UnavailableError('down'));
    // Three failed rounds bring the backoff to seconds; the deadline comes first.
    const started = Date.now();
    await expect(p.retry('write', { deadlineMs: 300 }, failing, undefined, 1)).rejects.toBeInstanceOf(
      DeadlineError,
    );
    expect(Date.now() - started).toBeLessThan(4_000);

    const ac = new AbortController();
    const waiting = p.retry('write', { signal: ac.signal, deadlineMs: 60_000 }, failing, undefined, 2);
    await tick(50);
    const abortedAt = Date.now();
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    // At the abort, not once the round's backoff (2.5 s or more here) is over.
    expect(Date.now() - abortedAt).toBeLessThan(2_000);
  });

  it('moves writes to a newly found leader only once the earlier ones were answered', async () => {
    const p = pool();
    const where: [number, string][] = [];
    let answerFirst!: () => void;
    const held = new Promise<void>((r) => (answerFirst = r));
    const first = p.retry(
      'write',
      {},
      async (ep: Endpoint) => {
        where.push([1, ep.address]);
        await held;
        return 1;
      },
      undefined,
      1,
    );
    expect(p.preferForWrites('127.0.0.1:2')).toBe(true);
    const second = p.retry(
      'write',
      {},
      (ep: Endpoint) => {
        where.push([2, ep.address]);
        return Promise.resolve(2);
      },
      undefined,
      2,
    );
    await tick(20);
    // Sent to the new member now, write 2 could apply before write 1 (still on the old one).
    expect(where).toEqual([[1, '127.0.0.1:1']]);
    answerFirst();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(where).toEqual([
      [1, '127.0.0.1:1'],
      [2, '127.0.0.1:2'],
    ]);
  });

  it('writes without a sequence and reads keep their own retries', async () => {
    const p = pool();
    let n = 0;
    const r = await p.retry('read', {}, () =>
      ++n < 3 ? Promise.reject(new UnavailableError('x')) : Promise.resolve(n),
    );
    expect(r).toBe(3);
    let m = 0;
    const w = await p.retry('write', {}, () =>
      ++m < 2 ? Promise.reject(new UnavailableError('x')) : Promise.resolve(m),
    );
    expect(w).toBe(2);
  });
});
