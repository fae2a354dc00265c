import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { logIndex, nodeId, term } from '../../src/util/brand.js';
import { EntryType, type Entry, type HardState } from '../../src/raft/types.js';
import type { AppliedMeta } from '../../src/storage/store-interface.js';
import type { ArborStore } from '../../src/storage/arbor-store.js';

const REPO = path.resolve(import.meta.dirname, '../..');

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `arbor-storage-${tag}-`));
}

/** Deterministic payload: a reopened store can be checked without remembering what was written. */
export function payload(index: number, size = 32): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (index * 31 + i) & 0xff;
  return b;
}

export function entry(index: number, t = 1, size = 32): Entry {
  return { index: logIndex(index), term: term(t), type: EntryType.Normal, data: payload(index, size) };
}

export function entries(from: number, to: number, t = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, t));
  return out;
}

export function hardState(t: number, vote: number, commit: number): HardState {
  return { term: term(t), vote: nodeId(vote), commit: logIndex(commit) };
}

export function applied(index: number, t = 1, extra?: Uint8Array): AppliedMeta {
  const conf = { voters: [nodeId(1), nodeId(2), nodeId(3)], learners: [nodeId(4)] };
  return extra === undefined
    ? { index: logIndex(index), term: term(t), conf }
    : { index: logIndex(index), term: term(t), conf, extra };
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

export async function records(store: ArborStore): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for await (const [k, v] of store.readRecords()) m.set(str(k), str(v));
  return m;
}

/**
 * Compiles src/storage (and what it imports) plus the crash-writer fixture to plain JS in a temp
 * dir so a child `node` process can run it; returns the fixture's path. Transpile-only
 * (`noCheck`): the type check is the lint step's job, and this keeps working while other areas
 * of the shared tree are mid-edit. node_modules is symlinked so the output resolves classic-level.
 */
export function buildCrashWriter(): { script: string; buildDir: string } {
  const dir = tempDir('build');
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  const tsconfig = {
    extends: path.join(REPO, 'tsconfig.json'),
    compilerOptions: {
      rootDir: REPO,
      outDir: path.join(dir, 'out'),
      noEmit: false,
      noCheck: true,
      sourceMap: false,
    },
    include: [path.join(REPO, 'test/storage/fixtures/crash-writer.ts')],
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], {
    stdio: 'inherit',
  });
  return { script: path.join(dir, 'out/test/storage/fixtures/crash-writer.js'), buildDir: dir };
}

/** Polls `cond` (no fixed sleeps): resolves as soon as it holds, fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
