/**
 * The scale workload end to end, tiny: `node dist/bench/main.js scale` starts its own clusters,
 * loads a few hundred znodes, samples memory, restarts a member, opens a few watches and prints
 * JSON. What is checked is that every measurement really happened (the tree holds the znodes it
 * loaded, memory and restart times were read, watches fired); never how fast (the numbers live
 * in docs/performance.md "Scale").
 * Budget: < 30 s (two cluster starts, one member restart, four sub-second put loads).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_JS = path.join(ROOT, 'dist/bench/main.js');

interface Memory {
  rssMB: number;
  peakRssMB: number;
  heapUsedMB: number | undefined;
}
interface Put {
  ops: number;
  opsPerSec: number;
  errors: Record<string, number>;
  serverCpuUsPerOp: number;
  clientCpuUsPerOp: number;
}
interface Scale {
  conditions: { cpus: number; loadAvgStart: number[]; loadAvgEnd: number[] };
  znodes: {
    znodes: number;
    counted: number;
    loadPerSec: number;
    members: Memory[];
    put: Put;
    restart: { member: number; readyMs: number; readMs: number; memory: Memory };
    loadAvg: number[];
  }[];
  watchMember: number;
  watchApi: string;
  watches: {
    watches: number;
    openErrors: Record<string, number>;
    memory: Memory;
    putUnwatched: Put;
    putWatched: Put;
    rounds: { unwatched: number[]; watched: number[] };
    memoryOpen: Memory;
    watchedVsUnwatchedPct: number;
    unwatchedChangePct: number;
    watchedChangePct: number;
    events: number;
    deliveredPct: number;
  }[];
}

function runTool(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN_JS, ...args], { timeout: 90_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('npm run bench -- scale (smoke)', () => {
  it('loads the znodes it reports, reads member memory, times a restart and fires the watches it opened', async () => {
    const stdout = await runTool([
      'scale',
      '--start-cluster',
      '--json',
      '--znodes',
      '150,300',
      '--watches',
      '30,60',
      '--watch-conns',
      '2',
      '--watch-keys',
      '30',
      '--batch',
      '50',
      '--clients',
      '8',
      '--conns',
      '2',
      '--duration',
      '300ms',
      '--settle',
      '100ms',
      '--rounds',
      '3',
    ]);
    const { scale } = JSON.parse(stdout) as { scale: Scale };
    expect(scale.conditions.cpus).toBeGreaterThan(0);
    expect(scale.conditions.loadAvgEnd).toHaveLength(3);

    expect(scale.znodes.map((z) => z.znodes)).toEqual([150, 300]);
    for (const z of scale.znodes) {
      expect(z.counted).toBe(z.znodes);
      expect(z.loadPerSec).toBeGreaterThan(0);
      expect(z.members).toHaveLength(3);
      for (const m of z.members) {
        expect(m.rssMB).toBeGreaterThan(0);
        expect(m.peakRssMB).toBeGreaterThanOrEqual(m.rssMB);
        expect(m.heapUsedMB).toBeGreaterThan(0);
      }
      expect(z.put.ops).toBeGreaterThan(0);
      expect(z.put.errors).toEqual({});
      expect(z.restart.readyMs).toBeGreaterThan(0);
      expect(z.restart.readMs).toBeGreaterThan(0);
      expect(z.restart.memory.rssMB).toBeGreaterThan(0);
      expect(z.loadAvg).toHaveLength(3);
    }

    // Watches go over WatchMany by default; the second step adds watches to the open streams.
    expect(scale.watchApi).toBe('many');
    expect(scale.watches.map((w) => w.watches)).toEqual([0, 30, 60]);
    const [none, ...some] = scale.watches;
    expect(none!.events).toBe(0);
    for (const w of some) {
      expect(w.openErrors).toEqual({});
      expect(w.memory.rssMB).toBeGreaterThan(0);
      expect(w.memoryOpen.rssMB).toBeGreaterThan(0);
      expect(w.putUnwatched.ops).toBeGreaterThan(0);
      expect(w.putWatched.ops).toBeGreaterThan(0);
      // The load generator's own CPU (put clients and watch consumers) is measured for both loads.
      expect(w.putUnwatched.clientCpuUsPerOp).toBeGreaterThan(0);
      expect(w.putWatched.clientCpuUsPerOp).toBeGreaterThan(0);
      // Every znode has W/30 watchers: each acknowledged watched put fires that many events.
      expect(w.events).toBeGreaterThanOrEqual((w.watches / 30) * w.putWatched.ops);
      expect(w.deliveredPct).toBeGreaterThanOrEqual(100);
    }
    // Three alternating rounds per row; each column shows its median round.
    for (const w of scale.watches) {
      for (const [runs, shown] of [
        [w.rounds.unwatched, w.putUnwatched],
        [w.rounds.watched, w.putWatched],
      ] as const) {
        expect(runs).toHaveLength(3);
        expect(shown.opsPerSec).toBe([...runs].sort((a, b) => a - b)[1]);
      }
    }
    // Changes are paired by round (every round visits each watch count) and the median shown.
    const paired = (now: readonly number[], then: readonly number[]): number =>
      now.map((x, i) => (100 * (x - then[i]!)) / then[i]!).sort((a, b) => a - b)[1]!;
    for (const w of scale.watches) {
      expect(w.watchedVsUnwatchedPct).toBeCloseTo(paired(w.rounds.watched, w.rounds.unwatched));
      expect(w.unwatchedChangePct).toBeCloseTo(paired(w.rounds.unwatched, none!.rounds.unwatched));
      expect(w.watchedChangePct).toBeCloseTo(paired(w.rounds.watched, none!.rounds.watched));
    }
  }, 90_000);
});
