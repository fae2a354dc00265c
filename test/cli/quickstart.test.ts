/**
 * The README's quick start, as a user runs it: `npm start` prints each member's endpoints and
 * the leader; `arbor` with its default endpoints creates and watches; Ctrl-C (SIGINT to the whole
 * process group, as a terminal sends it) stops all three members cleanly; `npm start` again
 * finds the data. Uses the fixed ports 4181-4183, 4191-4193, 4201-4203 the quick start promises.
 * Runtime budget: ≤ 40 s (one build by `npm start`, two elections).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { until } from '../integration/harness.js';
import { ROOT, arbor, arborLive } from './run-cli.js';

const PORTS = [4181, 4182, 4183, 4191, 4192, 4193, 4201, 4202, 4203];
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'arbor-quickstart-'));

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function busyPorts(): Promise<number[]> {
  const up = await Promise.all(PORTS.map(listening));
  return PORTS.filter((_, i) => up[i]);
}

interface Started {
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let current: Started | undefined;

/** The start script builds, then runs the local cluster; a restart needs no second build. */
const START = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start;
const [BUILD, RUN_LOCAL] = START.split(' && ');

/** Runs argv in its own process group, so SIGINT reaches it the way a terminal's Ctrl-C does. */
function start(argv: readonly string[]): Started {
  const [cmd, ...args] = argv;
  const proc = spawn(cmd!, args, {
    cwd: ROOT,
    detached: true,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ARBOR_LOCAL_DATA: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s: Started = {
    proc,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  proc.stdout?.on('data', (b: Buffer) => (s.stdout += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (s.stderr += b.toString()));
  current = s;
  return s;
}

async function ctrlC(s: Started): Promise<void> {
  process.kill(-s.proc.pid!, 'SIGINT');
  await s.exit;
  await until(async () => ((await busyPorts()).length === 0 ? true : undefined), 20_000, 'every port closed');
}

async function leaderLine(s: Started): Promise<string> {
  return until(
    () => /^leader: m[123] \(127\.0\.0\.1:418[123]\) — cluster ready\..*$/m.exec(s.stdout)?.[0],
    60_000,
    'the leader line',
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}\nstdout:\n${s.stdout}\nstderr:\n${s.stderr}`);
  });
}

afterAll(async () => {
  const s = current;
  if (s && s.proc.exitCode === null && s.proc.signalCode === null) {
    process.kill(-s.proc.pid!, 'SIGKILL');
    await s.exit;
  }
  // SIGKILL of the group reaches the members too; wait for the ports so later files find them free.
  await until(async () => ((await busyPorts()).length === 0 ? true : undefined), 20_000, 'ports free').catch(
    () => undefined,
  );
  rmSync(dataDir, { recursive: true, force: true });
});

describe('quick start: npm start', () => {
  it('needs its fixed ports free', async () => {
    expect(await busyPorts(), 'another Arbor (or something else) is using the quick-start ports').toEqual([]);
  });

  it('builds, then runs the local cluster', () => {
    expect(BUILD).toBe('npm run build');
    expect(RUN_LOCAL).toBe('node dist/cli/local-cluster.js');
  });

  it('prints each member’s endpoints and the leader; arbor create and watch work; Ctrl-C stops all three', async () => {
    const s = start(['npm', 'start']);
    await leaderLine(s);
    for (let i = 1; i <= 3; i++) {
      expect(s.stdout).toContain(
        `m${i}: clients 127.0.0.1:418${i}  peers 127.0.0.1:419${i}  http http://127.0.0.1:420${i}  data ${path.join(dataDir, `m${i}`)}`,
      );
    }

    // The CLI's default endpoints are the quick start's: no --endpoints needed.
    const created = await arbor(['create', '/hello', 'world', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const rev = (JSON.parse(created.stdout) as { stat: { modifiedRevision: number } }).stat.modifiedRevision;
    const watch = arborLive(['watch', '/hello', '--from', String(rev + 1)]);
    expect((await arbor(['set', '/hello', 'again'])).stdout).toBe('/hello version 1\n');
    await until(() => (watch.stdout.includes('updated') ? true : undefined), 15_000, 'the watch event');
    watch.proc.kill('SIGINT');
    expect((await watch.done).code).toBe(0);
    expect(watch.stdout).toMatch(/^ +\d+ {2}updated {2}\/hello {2}\(5 bytes\)\n$/);

    await ctrlC(s);
    expect(s.stdout).toContain('stopping the cluster...\nstopped\n');
    expect(s.stderr).not.toMatch(/exited unexpectedly|unclean shutdown|FATAL|"level":[56]0/);
  });

  it('a restart keeps the data', async () => {
    const s = start(RUN_LOCAL!.split(' ').map((a) => (a === 'node' ? process.execPath : a)));
    await leaderLine(s);
    const got = await arbor(['get', '/hello']);
    expect(got).toMatchObject({ code: 0, stdout: 'again\n', stderr: '' });
    await ctrlC(s);
    expect(s.stdout).toContain('stopped\n');
  });
});
