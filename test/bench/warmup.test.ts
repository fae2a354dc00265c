/**
 * The load loop's warm-up runs the same operations before the clock starts and records none of
 * them. The system under load is a stand-in that counts calls: what is tested is the loop.
 */
import { describe, expect, it } from 'vitest';
import type { BenchConn, BenchSystem } from '../../src/bench/driver-interface.js';
import { runLoad, type LoadOptions } from '../../src/bench/workloads.js';

function countingSystem(): { system: BenchSystem; puts: number[] } {
  const puts: number[] = [];
  const conn: BenchConn = {
    put: async () => {
      puts.push(performance.now());
      await new Promise((r) => setTimeout(r, 1));
    },
    create: () => Promise.resolve(),
    get: () => Promise.resolve(),
    watch: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const system: BenchSystem = {
    name: 'counting',
    linearizableReads: true,
    connect: () => Promise.resolve(conn),
    prepare: () => Promise.resolve(),
    errorLabel: () => 'error',
  };
  return { system, puts };
}

const base: LoadOptions = {
  endpoints: ['unused:1'],
  clients: 2,
  conns: 1,
  valueSize: 8,
  keys: 10,
  durationMs: 300,
  warmupMs: 0,
  total: undefined,
  readRatio: 0.9,
  watchers: 0,
  kills: 0,
  cluster: undefined,
  label: 'warm-up test',
};

describe('bench warm-up', () => {
  it('runs the load before the clock starts and records none of it', async () => {
    const { system, puts } = countingSystem();
    const t0 = performance.now();
    const r = await runLoad(system, 'put', { ...base, warmupMs: 300 });
    const warm = puts.filter((t) => t < t0 + 290).length;
    expect(warm).toBeGreaterThan(20); // the warm-up did put
    expect(puts.length - r.ops).toBeGreaterThanOrEqual(warm - 2); // ...and none of it was counted
    expect(r.elapsedSec).toBeLessThan(0.5); // the measured window is the duration alone
    expect(r.latency.count).toBe(r.ops);
  });

  it('with --warmup 0 every put is measured', async () => {
    const { system, puts } = countingSystem();
    const r = await runLoad(system, 'put', base);
    expect(r.ops).toBe(puts.length);
  });
});
