/**
 * Packed session-stream requests (ClientRequest.batch) against an in-process member: the stream
 * announces `arbor-batch: 1`; packed requests apply in their order, as if sent one by one, and
 * their answers may come packed (ClientResponse.batch), each under its own id; requests sent
 * alone are answered alone; big answers leave a pack; malformed packs are refused by id.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../src/bench/proc-cluster.js';
import { startInProcess, waitServing, type InProcessMember } from './in-process.js';
import { arborStub, type Msg, type Stub } from '../integration/harness.js';
import { MAX_PACK } from '../../src/api/request-decode.js';

let m: InProcessMember;
let s: Stub;

beforeAll(async () => {
  m = await startInProcess([]);
  s = arborStub(m.clientAddr, grpc.credentials.createInsecure());
  await waitServing(s);
}, 60_000);

afterAll(async () => {
  s?.close();
  await m?.stop();
}, 30_000);

interface Opened {
  st: grpc.ClientDuplexStream<Msg, Msg>;
  /** Every message as it arrived. */
  messages: Msg[];
  metadata: Promise<grpc.Metadata>;
  /** Every answer, those of packed messages each on its own, in order. */
  answers(): Msg[];
  /** Waits for answers to all of `ids`; returns them by id. */
  await(ids: number[]): Promise<Map<number, Msg>>;
}

function open(): Opened {
  const st = (s.Stream as () => grpc.ClientDuplexStream<Msg, Msg>).call(s);
  const messages: Msg[] = [];
  st.on('data', (r: Msg) => messages.push(r));
  st.on('error', () => undefined);
  const metadata = new Promise<grpc.Metadata>((resolve) => st.once('metadata', resolve));
  const answers = (): Msg[] => messages.flatMap((x) => (x.batch.length > 0 ? x.batch : [x]));
  return {
    st,
    messages,
    metadata,
    answers,
    await: (ids) =>
      until(
        () => {
          const byId = new Map(answers().map((a) => [Number(a.id), a]));
          return ids.every((i) => byId.has(i)) ? byId : undefined;
        },
        15_000,
        `answers to ${ids.join(',')}`,
      ),
  };
}

describe('packed session-stream requests', () => {
  it('announces batch support in the initial metadata', async () => {
    const o = open();
    expect((await o.metadata).get('arbor-batch')).toEqual(['1']);
    o.st.end();
  });

  it('applies packed requests in order and answers each under its own id', async () => {
    const o = open();
    const data = (i: number): Buffer => Buffer.from(`v${i}`);
    o.st.write({
      batch: [
        { id: 1, create: { path: '/pk', data: data(0) } },
        ...Array.from({ length: 20 }, (_, i) => ({
          id: i + 2,
          set: { path: '/pk', data: data(i + 1), expected_version: i },
        })),
        { id: 30, get: { path: '/pk' } },
        { id: 31, exists: { path: '/nope' } },
        { id: 32, delete: { path: '/nope', expected_version: -1 } },
      ],
    });
    const ids = [1, ...Array.from({ length: 20 }, (_, i) => i + 2), 30, 31, 32];
    const a = await o.await(ids);
    expect(a.get(1)!.create.path).toBe('/pk');
    // Each set saw the previous one (expected_version i): they applied in the order packed.
    for (let i = 0; i < 20; i++) expect(Number(a.get(i + 2)!.set.stat.version)).toBe(i + 1);
    // The read packed after the writes sees them all.
    expect(Buffer.from(a.get(30)!.get.data).toString()).toBe('v20');
    expect(a.get(31)!.exists.exists).toBe(false);
    expect(a.get(32)!.error.code).toBe(grpc.status.NOT_FOUND);
    expect(o.answers()).toHaveLength(ids.length);
    // Fewer messages than answers: answers of one apply batch travel together.
    expect(o.messages.length).toBeLessThan(ids.length);
    o.st.end();
  }, 30_000);

  it('answers requests sent alone alone, in order with packed answers', async () => {
    const o = open();
    await o.metadata;
    o.st.write({
      batch: [
        { id: 1, create: { path: '/alone' } },
        { id: 2, get: { path: '/alone' } },
      ],
    });
    o.st.write({ id: 3, get: { path: '/alone' } });
    const a = await o.await([1, 2, 3]);
    expect(a.get(3)!.get.stat.version).toBeDefined();
    const alone = o.messages.find((x) => String(x.id) === '3');
    expect(alone?.batch).toEqual([]);
    // Stream order: the lone read was sent last, so it is answered last.
    expect(o.answers().map((x) => Number(x.id))).toEqual([1, 2, 3]);
    o.st.end();
  }, 30_000);

  it('sends big answers on their own, never in a pack past its limit', async () => {
    const o = open();
    const big = Buffer.alloc(40 * 1024, 7);
    o.st.write({ batch: [1, 2, 3].map((i) => ({ id: i, create: { path: `/big${i}`, data: big } })) });
    await o.await([1, 2, 3]);
    o.st.write({ batch: [1, 2, 3].map((i) => ({ id: 10 + i, get: { path: `/big${i}` } })) });
    const a = await o.await([11, 12, 13]);
    for (const i of [11, 12, 13]) expect(a.get(i)!.get.data.length).toBe(big.length);
    const reads = o.messages.filter((x) => [x, ...x.batch].some((y: Msg) => Number(y.id) > 10));
    expect(reads).toHaveLength(3);
    for (const r of reads) expect(r.batch).toEqual([]);
    o.st.end();
  }, 30_000);

  it('cuts packs of answers with long paths well below 64 KiB messages', async () => {
    const o = open();
    const dir = `/${'d'.repeat(200)}`;
    o.st.write({ id: 1, create: { path: dir } });
    await o.await([1]);
    // 60 answers naming 1.5 KB paths: ~90 KB in all.
    const names = Array.from({ length: 60 }, (_, i) => `${dir}/${String(i).padStart(1300, 'x')}`);
    o.st.write({ batch: names.map((p, i) => ({ id: 10 + i, create: { path: p } })) });
    const ids = names.map((_, i) => 10 + i);
    await o.await(ids);
    const packs = o.messages.filter((x) => x.batch.length > 0);
    expect(packs.length).toBeGreaterThan(1);
    for (const m of packs) {
      const bytes = m.batch.reduce((n: number, a: Msg) => n + (a.create?.path?.length ?? 0), 0);
      expect(bytes).toBeLessThan(32 * 1024);
    }
    o.st.end();
  }, 30_000);

  it('refuses a pack that also sets an operation, and nested packs, by id', async () => {
    const o = open();
    o.st.write({ id: 7, get: { path: '/' }, batch: [{ id: 8, get: { path: '/' } }] });
    o.st.write({
      batch: [
        { id: 9, batch: [{ id: 10, get: { path: '/' } }] },
        { id: 11, get: { path: '/' } },
      ],
    });
    const a = await o.await([7, 9, 11]);
    expect(a.get(7)!.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(a.get(7)!.error.message).toMatch(/batch sets nothing else/);
    expect(a.get(9)!.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(a.get(9)!.error.message).toMatch(/cannot carry a batch/);
    expect(a.get(11)!.get).toBeDefined();
    // Neither inner request of a refused pack ran.
    expect(o.answers().some((x) => [8, 10].includes(Number(x.id)))).toBe(false);
    o.st.end();
  }, 30_000);

  it('ends a stream whose pack carries more than MAX_PACK requests with RESOURCE_EXHAUSTED', async () => {
    const st = (s.Stream as () => grpc.ClientDuplexStream<Msg, Msg>).call(s);
    const ended = new Promise<grpc.ServiceError>((resolve) => st.on('error', resolve));
    st.on('data', () => undefined);
    st.write({ batch: Array.from({ length: MAX_PACK + 1 }, (_, i) => ({ id: i + 1, get: { path: '/' } })) });
    const e = await ended;
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.details).toMatch(new RegExp(`at most ${MAX_PACK} requests`));
    // A pack of exactly MAX_PACK is served.
    const o = open();
    o.st.write({ batch: Array.from({ length: MAX_PACK }, (_, i) => ({ id: i + 1, get: { path: '/' } })) });
    const a = await o.await(Array.from({ length: MAX_PACK }, (_, i) => i + 1));
    expect(a.get(MAX_PACK)!.get).toBeDefined();
    o.st.end();
  }, 30_000);
});
