/**
 * Runs the compiled `arbor` command as a user would: a separate `node dist/cli/arbor.js`
 * process, with a clean environment (no ARBOR_* leaking in from the test runner).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARBOR_JS = path.join(ROOT, 'dist/cli/arbor.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Written to stdin, which is then closed (stdin is closed at once without it). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...extra };
}

/** Runs `arbor ARGS` to completion. */
export function arbor(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [ARBOR_JS, ...args], {
      cwd: ROOT,
      env: cleanEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(
        new Error(`arbor ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 20_000} ms\n${stderr}`),
      );
    }, opts.timeoutMs ?? 20_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A long-running `arbor` (watch): read its output as it comes, stop it with a signal. */
export interface LiveCli {
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  readonly done: Promise<CliResult>;
}

export function arborLive(args: readonly string[], opts: CliOptions = {}): LiveCli {
  const proc = spawn(process.execPath, [ARBOR_JS, ...args], {
    cwd: ROOT,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const live: LiveCli = {
    proc,
    stdout: '',
    stderr: '',
    done: new Promise((resolve) => {
      proc.on('close', (code, signal) => resolve({ code, signal, stdout: live.stdout, stderr: live.stderr }));
    }),
  };
  proc.stdout.on('data', (b: Buffer) => (live.stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (live.stderr += b.toString()));
  return live;
}
