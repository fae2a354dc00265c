/**
 * Growing a running cluster from 3 to 5 members and shrinking it back, with writes going on:
 * new members join as learners, catch up by snapshot, are promoted; removing the leader hands
 * leadership over first. No acknowledged write is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, failure, sleep, until, type Msg } from './harness.js';

let cluster: TestCluster;

beforeAll(async () => {
  // Few entries between compactions, so the newcomers certainly catch up from a snapshot.
  cluster = await TestCluster.start({ size: 3, extraArgs: ['--snapshot-entries', '200'] });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function status(id: number): Promise<Msg> {
  return call(cluster.cluster(id), 'Status', {}, 3000);
}

describe('membership changes under load', () => {
  it('grows 3 → 5 through learners and shrinks back to 3', async () => {
    const first = await cluster.waitForLeader();
    await call(cluster.arbor(first), 'Create', { path: '/m' });
    const acked: number[] = [];
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const live = cluster.members.filter((m) => m.proc).map((m) => m.id);
        const target = live[i % live.length]!;
        try {
          await call(
            cluster.arbor(target),
            'Create',
            { path: `/m/k${i}`, data: Buffer.from(String(i)) },
            3000,
          );
          acked.push(i);
        } catch {
          await sleep(20);
        }
      }
    })();
    await until(() => (acked.length > 300 ? true : undefined), 30_000, 'load');

    for (const id of [4, 5]) {
      const m = await cluster.spawnJoiner(id);
      const any = cluster.members.find((x) => x.proc && x.id !== id)!.id;
      const added = await call(cluster.cluster(any), 'AddMember', {
        id,
        name: `m${id}`,
        peer_url: m.peerAddr,
        client_url: m.clientAddr,
        as_learner: true,
      });
      const me = (added.members as Msg[]).find((x) => Number(x.id) === id);
      expect(me?.role).toBe(1);
      // The learner catches up (from a snapshot: the log was compacted) and serves reads.
      await until(
        async () => {
          const lead = await status(await cluster.waitForLeader());
          const mine = await status(id);
          return Number(mine.applied_index) >= Number(lead.commit_index) - 50 ? true : undefined;
        },
        60_000,
        `member ${id} to catch up`,
      );
      await until(
        async () => {
          try {
            return await call(cluster.cluster(any), 'PromoteMember', { id });
          } catch {
            return undefined;
          }
        },
        30_000,
        `promote ${id}`,
      );
    }
    const five = await status(1);
    expect((five.members as Msg[]).map((x) => [Number(x.id), x.role])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
      [5, 0],
    ]);

    // Shrink: remove the two newcomers, then the current leader (which hands over first).
    for (const id of [4, 5]) {
      await call(cluster.cluster(1), 'RemoveMember', { id }, 15_000);
      await cluster.kill(id);
    }
    const leader = await cluster.waitForLeader();
    const other = [1, 2, 3].find((i) => i !== leader)!;
    await call(cluster.cluster(other), 'RemoveMember', { id: leader }, 20_000);
    await cluster.kill(leader);
    const newLeader = await cluster.waitForLeader(30_000, [leader]);
    expect(newLeader).not.toBe(leader);
    const two = await status(newLeader);
    expect((two.members as Msg[]).map((x) => Number(x.id)).sort()).toEqual(
      [1, 2, 3].filter((i) => i !== leader),
    );
    const unknown = await failure(call(cluster.cluster(newLeader), 'RemoveMember', { id: 9 }));
    expect(unknown.code).toBe(5);

    await sleep(300);
    stop = true;
    await load;
    const live = [1, 2, 3].filter((i) => i !== leader);
    for (const id of live) {
      const kids = await call(cluster.arbor(id), 'GetChildren', { path: '/m' });
      const names = new Set(kids.children as string[]);
      for (const i of acked) expect(names.has(`k${i}`), `k${i} on m${id}`).toBe(true);
    }
  });
});
