/**
 * Member processes the benchmark starts itself: spawn, SIGKILL, restart on the same data,
 * and stop everything (also when the tool itself is interrupted). Every cluster lives in one
 * temp directory that is removed at the end.
 *
 * (test/integration/harness.ts does the same for tests; src/ may not import test/, so this
 * is the small production-side twin without the test-only stubs.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Ports this process already handed out: the OS may give a just-released port to the next bind(0). */
const handedOut = new Set<number>();

/**
 * A loopback port nothing listens on now and that this process has not handed out before, for
 * a member process to bind. (Another process could still take it in between; members that fail
 * to bind exit with a clear message.)
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        const p = typeof a === 'object' && a ? a.port : 0;
        s.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns a value other than undefined/false, or throw after `timeoutMs`. */
export async function until<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    await sleep(50);
  }
}

export interface ProcSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

interface Member {
  readonly spec: ProcSpec;
  proc: ChildProcess | undefined;
  output: string[];
}

const live = new Set<ProcGroup>();
let exitHooked = false;

/** Kill every group still running when the process exits or is interrupted. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = (): void => {
    for (const g of live) g.killAllSync();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export class ProcGroup {
  readonly dir: string;
  private readonly members: Member[] = [];

  constructor(prefix: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    live.add(this);
    hookExit();
  }

  add(spec: ProcSpec): number {
    this.members.push({ spec, proc: undefined, output: [] });
    return this.members.length - 1;
  }

  get size(): number {
    return this.members.length;
  }

  start(i: number): void {
    const m = this.member(i);
    const proc = spawn(m.spec.command, [...m.spec.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: m.spec.env ?? process.env,
    });
    const keep = (b: Buffer): void => {
      m.output.push(
        ...b
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      if (m.output.length > 100) m.output.splice(0, m.output.length - 100);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    m.proc = proc;
  }

  running(i: number): boolean {
    const p = this.member(i).proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  pids(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.members.length; i++) {
      const pid = this.members[i]!.proc?.pid;
      if (pid !== undefined && this.running(i)) out.push(pid);
    }
    return out;
  }

  /** PID of member i while it runs. */
  pidOf(i: number): number | undefined {
    return this.running(i) ? this.member(i).proc?.pid : undefined;
  }

  /** SIGKILL member i; resolves when it has exited. */
  async kill(i: number): Promise<void> {
    const m = this.member(i);
    const p = m.proc;
    if (!p || !this.running(i)) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
    m.proc = undefined;
  }

  /** SIGKILL without waiting (the failover measurement starts its clock right here). */
  killNow(i: number): void {
    this.member(i).proc?.kill('SIGKILL');
  }

  logs(): string {
    return this.members.map((m, i) => `--- member ${i}\n${m.output.slice(-20).join('\n')}`).join('\n');
  }

  killAllSync(): void {
    for (const m of this.members) m.proc?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** SIGTERM (members flush, profiles get written), SIGKILL whoever is still up after 5 s. */
  async terminate(i: number): Promise<void> {
    const m = this.member(i);
    const p = m.proc;
    if (!p || !this.running(i)) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
    m.proc = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.terminate(i)));
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (!m) throw new Error(`no member ${i}`);
    return m;
  }
}
