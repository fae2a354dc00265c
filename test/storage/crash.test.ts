import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { buildCrashWriter, payload, records, tempDir, until } from './helpers.js';

let script: string;
const dirs: string[] = [];

beforeAll(() => {
  const built = buildCrashWriter();
  script = built.script;
  dirs.push(built.buildDir);
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

interface RunResult {
  acked: number[];
  applied: number[];
}

/** Runs the writer until it has acknowledged `killAfter` more entries, then SIGKILLs it. */
async function runAndKill(dataDir: string, term: number, killAfter: number): Promise<RunResult> {
  const child = spawn(process.execPath, [script, dataDir, String(term)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked: number[] = [];
  const applied: number[] = [];
  let stderr = '';
  let buf = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const [kind, n] = l.split(' ');
      if (kind === 'ack') acked.push(Number(n));
      if (kind === 'applied') applied.push(Number(n));
    }
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  await until(() => acked.length >= killAfter || exitedEarly, 30_000, 'acknowledged entries');
  expect(exitedEarly, `writer exited early: ${stderr}`).toBe(false);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return { acked, applied };
}

describe('durability across kill -9 of a real process', () => {
  it('every acknowledged entry (and applied state) survives repeated SIGKILLs mid-load', async () => {
    const dataDir = tempDir('crash');
    dirs.push(dataDir);
    const allAcked: number[] = [];
    for (let run = 1; run <= 4; run++) {
      const { acked, applied } = await runAndKill(dataDir, run, 300 + run * 97);
      allAcked.push(...acked);
      const store = await ArborStore.open(dataDir);
      try {
        const raft = await store.loadRaft();
        const start = raft.snapshotMeta.index;
        const byIndex = new Map(raft.entries.map((e) => [e.index as number, e]));
        const last = start + raft.entries.length;
        for (const i of allAcked) {
          expect(i).toBeLessThanOrEqual(last);
          if (i <= start) continue; // compacted after being applied: covered by the applied check
          const e = byIndex.get(i);
          expect(e, `acknowledged entry ${i} lost in run ${run}`).toBeDefined();
          expect(e!.data).toEqual(payload(i));
        }
        // The entries this run acknowledged carry this run's term (nothing older overwrote them).
        for (const i of acked) if (i > start) expect(byIndex.get(i)!.term).toBe(run);
        // Applied meta and the tree record written in the same batch agree, and cover every ack.
        const appliedMeta = await store.loadApplied();
        const maxAckedApply = Math.max(0, ...applied);
        expect(appliedMeta.index).toBeGreaterThanOrEqual(maxAckedApply);
        const tree = await records(store);
        expect(tree.get('applied') ?? '0').toBe(String(appliedMeta.index));
        expect(raft.hardState.commit).toBeGreaterThanOrEqual(Math.max(...acked));
      } finally {
        await store.close();
      }
    }
    expect(allAcked.length).toBeGreaterThan(1500);
  });
});
