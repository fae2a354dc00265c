/**
 * Every program in examples/ compiles (tsc -p examples/tsconfig.json → dist/examples) and runs
 * to completion against a real local cluster, so the examples cannot rot.
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../integration/harness.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = path.join(ROOT, 'examples');
const OUT = path.join(ROOT, 'dist/examples/examples');
/** The client finds arbor.proto two levels above its own file: dist/examples/src/client → dist/examples/proto. */
const PROTO_LINK = path.join(ROOT, 'dist/examples/proto');

/** What each example must print, proving it did its job (not just that it exited 0). */
const EXPECT: Record<string, RegExp> = {
  'lock.ts': /final counter: 9/,
  'leader-election.ts': /new leader: node-/,
  'service-discovery.ts': /after one instance left: 127\.0\.0\.1:8082, 127\.0\.0\.1:8083/,
  'config-watcher.ts': /initial: 10[\s\S]*current: 100/,
  'priority-queue.ts':
    /took p0: page the on-call\ntook p1: charge card\ntook p5: send newsletter\ntook p5: resize images/,
  'double-barrier.ts': /(w\d entered[^\n]*\n){3}(w\d left[^\n]*\n){3}/,
  'id-generator.ts': /a: order-0000000001\nb: order-0000000002\n/,
};

const programs = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts') && f !== 'common.ts');

let cluster: TestCluster;
beforeAll(async () => {
  const compiled = run(process.execPath, [
    path.join(ROOT, 'node_modules/typescript/bin/tsc'),
    '-p',
    EXAMPLES,
  ]);
  cluster = await TestCluster.start({ size: 3 });
  await compiled;
  rmSync(PROTO_LINK, { force: true, recursive: true });
  symlinkSync('../../proto', PROTO_LINK);
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
});

describe('examples', () => {
  it('has an expectation for every example', () => {
    expect(programs.sort()).toEqual(Object.keys(EXPECT).sort());
  });

  it.each(programs)('%s runs against a local cluster', async (file) => {
    const { stdout } = await run(process.execPath, [path.join(OUT, file.replace(/\.ts$/, '.js'))], {
      env: { ...process.env, ARBOR_ENDPOINTS: cluster.members.map((m) => m.clientAddr).join(',') },
      timeout: 60_000,
    });
    expect(stdout).toMatch(EXPECT[file]!);
  });
});
