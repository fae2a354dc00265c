/**
 * Durability with real processes: members killed with SIGKILL during a write load and restarted,
 * again and again, lose no acknowledged write and end with identical trees; a member whose data
 * directory is wiped rejoins (as a new member) and catches up by snapshot; a damaged data
 * directory stops the server with a message that names it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SERVER_JS,
  TestCluster,
  call,
  converged,
  exactlyOnceWriter,
  opsUnder,
  until,
  type Msg,
  type Stub,
} from './harness.js';

let cluster: TestCluster;

beforeAll(async () => {
  // A short compaction interval so restarts and the rejoin cross snapshots and compacted logs.
  cluster = await TestCluster.start({ size: 3, extraArgs: ['--snapshot-entries', '300'] });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('kill -9 during a write load', () => {
  it('loses no acknowledged write across repeated crashes, and members agree on the tree', async () => {
    const leader = await cluster.waitForLeader();
    await call(cluster.arbor(leader), 'Create', { path: '/crash' });
    const live = new Set([1, 2, 3]);
    const stubs = (): Stub[] => [...live].map((i) => cluster.arbor(i));
    const acked: string[] = [];
    const stop = { now: false };
    const writers = Array.from({ length: 6 }, (_, w) =>
      exactlyOnceWriter(stubs, '/crash', `crash-${w}`, 100_000, acked, stop),
    );
    // Kill the leader twice and a follower twice, each time mid-load, then bring it back.
    for (let round = 0; round < 4; round++) {
      const target = round % 2 === 0 ? await cluster.waitForLeader() : [1, 2, 3].find((i) => i !== leader)!;
      const before = acked.length;
      await until(
        () => (acked.length >= before + 150 ? true : undefined),
        60_000,
        `load before round ${round}`,
      );
      live.delete(target);
      await cluster.kill(target);
      await until(() => (acked.length >= before + 300 ? true : undefined), 60_000, `load without m${target}`);
      cluster.restart(target);
      live.add(target);
      await cluster.waitForLeader(30_000);
      console.log(`round ${round}: killed m${target}, ${acked.length} acknowledged so far`);
    }
    stop.now = true;
    await Promise.all(writers);
    const sts = await converged(cluster, [1, 2, 3]);
    expect(new Set(sts.map((s: Msg) => s.digest)).size).toBe(1);
    for (const id of [1, 2, 3]) {
      const seen = await opsUnder(cluster.arbor(id), '/crash');
      for (const op of acked) expect(seen.get(op), `acknowledged ${op} on m${id}`).toBe(1);
      for (const [op, n] of seen) expect(n, `applied ${op} on m${id}`).toBe(1);
    }
  }, 240_000);
});

describe('a wiped member', () => {
  it('rejoins as a new member and catches up by snapshot', async () => {
    const leader = await cluster.waitForLeader();
    const victim = [1, 2, 3].find((i) => i !== leader)!;
    const L = cluster.arbor(leader);
    await call(L, 'Create', { path: '/wipe' });
    for (let i = 0; i < 400; i++) await call(L, 'Create', { path: `/wipe/n${i}`, data: Buffer.alloc(64, i) });
    await cluster.kill(victim);
    fs.rmSync(cluster.member(victim).dataDir, { recursive: true, force: true });
    await call(cluster.cluster(leader), 'RemoveMember', { id: victim });
    const m = await cluster.spawnJoiner(10 + victim);
    await call(cluster.cluster(leader), 'AddMember', {
      id: m.id,
      name: `m${m.id}`,
      peer_url: m.peerAddr,
      client_url: m.clientAddr,
      as_learner: true,
    });
    const others = [1, 2, 3].filter((i) => i !== victim);
    await until(
      async () => {
        try {
          return await call(cluster.cluster(leader), 'PromoteMember', { id: m.id }, 3000);
        } catch {
          return undefined;
        }
      },
      60_000,
      'promotion',
    );
    await converged(cluster, [...others, m.id]);
    const kids = await call(cluster.arbor(m.id), 'GetChildren', { path: '/wipe', consistency: 1 });
    expect((kids.children as string[]).length).toBe(400);
    // It really came from a snapshot: the new member's log starts after index 1.
    const n0 = await call(cluster.arbor(m.id), 'Get', { path: '/wipe/n0', consistency: 1 });
    expect(n0.data).toEqual(Buffer.alloc(64, 0));
    const status = await call(cluster.cluster(m.id), 'Status', {});
    expect(Number(status.leader_id)).toBe(leader);
  });
});

describe('a damaged data directory', () => {
  it('stops the server with a message naming the directory, and changes nothing', async () => {
    const leader = await cluster.waitForLeader();
    const victim = [1, 2, 3].find((i) => i !== leader && cluster.member(i).proc)!;
    expect(await cluster.terminate(victim)).toBe(0);
    const db = path.join(cluster.member(victim).dataDir, 'db');
    const manifest = fs.readdirSync(db).find((n) => n.startsWith('MANIFEST-'))!;
    const bytes = fs.readFileSync(path.join(db, manifest));
    for (let i = 0; i < bytes.length; i += 7) bytes[i] = 0xff;
    fs.writeFileSync(path.join(db, manifest), bytes);
    const m = cluster.member(victim);
    const r = spawnSync(
      process.execPath,
      [
        SERVER_JS,
        '--id',
        String(victim),
        '--client-addr',
        m.clientAddr,
        '--peer-addr',
        m.peerAddr,
        '--http-addr',
        m.httpAddr,
        '--initial-cluster',
        cluster.founders,
        '--data-dir',
        m.dataDir,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(m.dataDir);
    expect(r.stderr).toMatch(/corrupt/i);
    // The bytes on disk are what we left: the server did not "repair" them by starting empty.
    expect(fs.readFileSync(path.join(db, manifest))).toEqual(bytes);
  });
});
