/**
 * The benchmark tool end to end, briefly: `node dist/bench/main.js` starts its own 3-member
 * cluster, runs put and get for about a second each, and prints JSON. The shape and that ops
 * completed are checked; timing never is (timing goals live in docs/performance.md).
 * Budget: < 20 s (cluster start ~2 s, three ~1 s runs, stop).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_JS = path.join(ROOT, 'dist/bench/main.js');

interface Summary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}
interface Result {
  system: string;
  workload: string;
  label: string;
  ops: number;
  opsPerSec: number;
  latency: Summary;
  errors: Record<string, number>;
  serverCpuUsPerOp: number | undefined;
  clientCpuUsPerOp: number;
}

function runTool(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN_JS, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

describe('npm run bench (smoke)', () => {
  it('runs put, get and watch against a cluster it starts and prints one JSON result per workload', async () => {
    const { stdout } = await runTool([
      'put',
      'get',
      'watch',
      '--start-cluster',
      '--json',
      '--duration',
      '800ms',
      '--warmup',
      '300ms',
      '--clients',
      '8',
      '--conns',
      '2',
      '--keys',
      '50',
    ]);
    const { results } = JSON.parse(stdout) as { results: Result[] };
    expect(results.map((r) => r.workload)).toEqual(['put', 'get', 'get-serializable', 'watch']);
    for (const r of results) {
      expect(r.system).toBe('arbor');
      expect(r.ops).toBeGreaterThan(0);
      // watch latencies are per delivered event (writes × watchers), the others per op.
      if (r.workload !== 'watch') expect(r.latency.count).toBe(r.ops);
      expect(r.latency.p50Ms).toBeLessThanOrEqual(r.latency.p99Ms);
      expect(r.latency.p99Ms).toBeLessThanOrEqual(r.latency.maxMs);
      expect(r.errors).toEqual({});
      expect(r.serverCpuUsPerOp).toBeGreaterThan(0);
      expect(r.clientCpuUsPerOp).toBeGreaterThan(0);
    }
    const watch = results[3] as Result & { watch: { deliveredPct: number; eventsPerSec: number } };
    expect(watch.watch.deliveredPct).toBeGreaterThan(0);
  }, 30_000);
});
