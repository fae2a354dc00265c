/**
 * Killing the leader in the middle of a write load: clients that retry on other members with
 * the same exactly-once header lose no acknowledged write and apply none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, exactlyOnceWriter, opsUnder, until, type Stub } from './harness.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('leader failure under load', () => {
  it('loses no acknowledged write and duplicates none', async () => {
    const leader = await cluster.waitForLeader();
    await call(cluster.arbor(leader), 'Create', { path: '/load' });
    const live = new Set([1, 2, 3]);
    const stubs = (): Stub[] => [...live].map((i) => cluster.arbor(i));
    const acked: string[] = [];
    const stop = { now: false };
    const writers = Array.from({ length: 8 }, (_, w) =>
      exactlyOnceWriter(stubs, '/load', `client-${w}`, 150, acked, stop),
    );
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

describe('leadership transfer under load', () => {
  it('TransferLeader completes while writes keep coming, and no write is lost', async () => {
    const leader = await cluster.waitForLeader();
    await call(cluster.arbor(leader), 'Create', { path: '/xfer' });
    const stubs = (): Stub[] => [1, 2, 3].map((i) => cluster.arbor(i));
    const acked: string[] = [];
    const stop = { now: false };
    const writers = Array.from({ length: 6 }, (_, w) =>
      exactlyOnceWriter(stubs, '/xfer', `xfer-${w}`, 100_000, acked, stop),
    );
    await until(() => (acked.length > 200 ? true : undefined), 30_000, 'load running');
    const target = [1, 2, 3].find((i) => i !== leader)!;
    const started = Date.now();
    const r = await call(cluster.cluster(leader), 'TransferLeader', { target_id: target }, 10_000);
    expect(Number(r.leader_id)).toBe(target);
    const tookMs = Date.now() - started;
    const before = acked.length;
    await until(() => (acked.length > before + 100 ? true : undefined), 30_000, 'writes after the transfer');
    stop.now = true;
    await Promise.all(writers);
    expect(await cluster.waitForLeader()).toBe(target);
    const seen = await opsUnder(cluster.arbor(target), '/xfer');
    for (const op of acked) expect(seen.get(op), op).toBe(1);
    console.log(`transfer under load took ${tookMs} ms`);
  });
});
