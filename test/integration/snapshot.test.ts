/**
 * Backup and restore: `arbor snapshot save` takes a consistent image from a live cluster without
 * stopping writes; `arbor snapshot restore` seeds every member of a new cluster from it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, converged, until } from './harness.js';

const ARBOR = fileURLToPath(new URL('../../dist/cli/arbor.js', import.meta.url));
let source: TestCluster;
let restored: TestCluster | undefined;
let dir: string;

function arbor(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [ARBOR, ...args], { encoding: 'utf8', timeout: 60_000 });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-snap-'));
  source = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await restored?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('snapshot save and restore', () => {
  it('round-trips a consistent image, taken under writes, into a new cluster', async () => {
    const leader = await source.waitForLeader();
    const L = source.arbor(leader);
    await call(L, 'Create', { path: '/cfg/app', data: Buffer.from('v1'), create_parents: true });
    await call(L, 'Create', { path: '/seq' });
    for (let i = 0; i < 3; i++) await call(L, 'Create', { path: '/seq/s-', mode: 2 });
    await call(L, 'Create', { path: '/stream' });
    // A writer appends k0, k1, ... one at a time while the snapshot is taken.
    let stop = false;
    let written = 0;
    const writer = (async () => {
      while (!stop) {
        await call(L, 'Create', { path: `/stream/k${written}`, data: Buffer.alloc(200, written % 256) });
        written++;
      }
    })();
    await until(() => (written > 200 ? true : undefined), 30_000, 'writes before the snapshot');
    const file = path.join(dir, 'backup.snap');
    const follower = source.member([1, 2, 3].find((i) => i !== leader)!).clientAddr;
    const saved = arbor('snapshot', 'save', file, '--endpoints', follower);
    const atSave = written;
    stop = true;
    await writer;
    expect(saved.stderr).toBe('');
    expect(saved.status).toBe(0);
    expect(saved.stdout).toMatch(/saved snapshot at revision \d+/);

    restored = await TestCluster.start({
      size: 3,
      prepare: (m, founders) => {
        const r = arbor('snapshot', 'restore', file, '--data-dir', m.dataDir, '--initial-cluster', founders);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      },
    });
    const sts = await converged(restored, [1, 2, 3]);
    const revision = Number(sts[0]!.applied_index);
    expect(revision).toBeGreaterThan(0);
    const R = restored.arbor(await restored.waitForLeader());
    expect((await call(R, 'Get', { path: '/cfg/app' })).data.toString()).toBe('v1');
    expect((await call(R, 'GetChildren', { path: '/seq' })).children).toEqual(
      [0, 1, 2].map((i) => `s-${String(i).padStart(10, '0')}`),
    );
    // Consistent: exactly a prefix k0..k(n-1) of what the writer wrote, at least what was written before the save began.
    const ks = ((await call(R, 'GetChildren', { path: '/stream' })).children as string[]).map((k) =>
      Number(k.slice(1)),
    );
    ks.sort((a, b) => a - b);
    expect(ks.length).toBeGreaterThanOrEqual(200);
    expect(ks.length).toBeLessThanOrEqual(atSave + 1);
    expect(ks).toEqual(ks.map((_, i) => i));
    // The restored cluster takes new writes, and its sequential counters carry on.
    expect((await call(R, 'Create', { path: '/seq/s-', mode: 2 })).path).toBe('/seq/s-0000000003');
    const members = await call(restored.cluster(1), 'Status', {});
    expect((members.members as { id: string }[]).map((m) => Number(m.id))).toEqual([1, 2, 3]);
  });

  it('refuses a damaged file and leaves the target directory untouched', () => {
    const file = path.join(dir, 'backup.snap');
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    const bad = path.join(dir, 'bad.snap');
    fs.writeFileSync(bad, bytes);
    const target = path.join(dir, 'target');
    const r = arbor('snapshot', 'restore', bad, '--data-dir', target, '--initial-cluster', '1=127.0.0.1:1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/damaged or truncated/);
    expect(fs.existsSync(target)).toBe(false);
  });
});
