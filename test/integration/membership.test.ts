/**
 * Growing a running cluster from 3 to 5 members and shrinking it back, with writes going on:
 * new members join as learners, catch up by snapshot, are promoted; removing the leader hands
 * leadership over first. No acknowledged write is lost.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

const ARBOR = fileURLToPath(new URL('../../dist/cli/arbor.js', import.meta.url));

/** Runs the compiled CLI against member `via` without blocking the load running meanwhile. */
function arbor(via: number, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ARBOR, ...args, '--endpoints', cluster.member(via).clientAddr, '--timeout', '20000'],
      { timeout: 60_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function status(id: number): Promise<Msg> {
  return call(cluster.cluster(id), 'Status', {}, 3000);
}

describe('membership changes under load', () => {
  it('grows 3 → 5 through learners and shrinks back to 3, with the CLI', async () => {
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
      // Through the CLI, as an operator would.
      const added = await arbor(
        any,
        'member',
        'add',
        String(id),
        `m${id}`,
        '--peer-url',
        m.peerAddr,
        '--client-url',
        m.clientAddr,
        '--learner',
        '--json',
      );
      expect(added.code).toBe(0);
      const me = (JSON.parse(added.stdout) as { members: Msg[] }).members.find((x) => Number(x.id) === id);
      expect(me?.role).toBe('learner');
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
        async () => ((await arbor(any, 'member', 'promote', String(id))).code === 0 ? true : undefined),
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
      const removed = await arbor(1, 'member', 'remove', String(id));
      expect(removed.stderr).toBe('');
      expect(removed.code).toBe(0);
      await cluster.kill(id);
    }
    const leader = await cluster.waitForLeader();
    const other = [1, 2, 3].find((i) => i !== leader)!;
    const rmOut = await arbor(other, 'member', 'remove', String(leader));
    expect(rmOut.code, rmOut.stderr).toBe(0);
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
