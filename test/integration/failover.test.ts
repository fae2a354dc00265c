/**
 * Killing the leader in the middle of a write load: clients that retry on other members with
 * the same exactly-once header lose no acknowledged write and apply none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, sleep, until, type GrpcError, type Stub } from './harness.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Retryable: the write was not applied or its outcome is unknown; the same sequence makes a retry safe. */
const RETRYABLE = new Set([4, 10, 14]);

async function writer(
  stubs: () => Stub[],
  clientId: string,
  count: number,
  acked: string[],
  stop: { now: boolean },
): Promise<void> {
  let target = 0;
  for (let seq = 1; seq <= count && !stop.now; seq++) {
    const op = `${clientId}:${seq}`;
    for (let attempt = 0; ; attempt++) {
      const s = stubs();
      const stub = s[target % s.length]!;
      try {
        await call(
          stub,
          'Create',
          {
            path: '/load/op-',
            mode: 2,
            data: Buffer.from(op),
            header: { client_id: clientId, sequence: seq, first_unacked: seq },
          },
          2000,
        );
        acked.push(op);
        break;
      } catch (e) {
        const code = (e as GrpcError).code;
        if (!RETRYABLE.has(code)) throw e;
        if (attempt > 200) throw new Error(`gave up on ${op}`, { cause: e });
        target++;
        await sleep(20);
      }
    }
  }
}

describe('leader failure under load', () => {
  it('loses no acknowledged write and duplicates none', async () => {
    const leader = await cluster.waitForLeader();
    await call(cluster.arbor(leader), 'Create', { path: '/load' });
    const live = new Set([1, 2, 3]);
    const stubs = (): Stub[] => [...live].map((i) => cluster.arbor(i));
    const acked: string[] = [];
    const stop = { now: false };
    const writers = Array.from({ length: 8 }, (_, w) => writer(stubs, `client-${w}`, 150, acked, stop));
    await until(() => (acked.length > 100 ? true : undefined), 30_000, 'load running');
    live.delete(leader);
    await cluster.kill(leader);
    await cluster.waitForLeader(30_000, [leader]);
    await Promise.all(writers);
    cluster.restart(leader);
    live.add(leader);
    await cluster.waitForLeader(30_000);

    // Every member converges on the same children; each acknowledged op appears exactly once.
    const lists = await until(
      async () => {
        const all = await Promise.all(
          [1, 2, 3].map((i) => call(cluster.arbor(i), 'GetChildren', { path: '/load' })),
        );
        const sizes = new Set(all.map((r) => (r.children as string[]).length));
        return sizes.size === 1 ? all : undefined;
      },
      30_000,
      'members to agree',
    );
    const names = lists[0]!.children as string[];
    for (const l of lists) expect(l.children).toEqual(names);
    const seen = new Map<string, number>();
    const leaderStub = cluster.arbor(await cluster.waitForLeader());
    for (const n of names) {
      const r = await call(leaderStub, 'Get', { path: `/load/${n}`, consistency: 1 });
      const op = (r.data as Buffer).toString();
      seen.set(op, (seen.get(op) ?? 0) + 1);
    }
    for (const op of acked) expect(seen.get(op), `acknowledged ${op}`).toBe(1);
    for (const [op, n] of seen) expect(n, `applied ${op}`).toBe(1);
    expect(acked.length).toBe(8 * 150);
  });
});
