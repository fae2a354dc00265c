/**
 * Storage durability/throughput benchmark.
 *   (1) raw fsync rate of the target disk: write 300 B + fsync in a loop on a file in the dir;
 *   (2) durable append rate through ArborStore.persist with 64 concurrent callers, each
 *       appending one 300 B entry at a time: entries/s and entries per fsync (group commit).
 * Usage: node dist/bench/storage-bench.js [--dir <dir on the disk to test>] [--seconds 3] [--callers 64]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { logIndex, nodeId, term } from '../util/brand.js';
import { EntryType } from '../raft/types.js';
import { ArborStore } from '../storage/arbor-store.js';
import { print } from './print.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const baseDir = arg('dir', os.tmpdir());
const seconds = Number(arg('seconds', '3'));
const callers = Number(arg('callers', '64'));
const ENTRY_BYTES = 300;

function rawFsync(dir: string): { perSec: number; count: number; p50Ms: number } {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(ENTRY_BYTES, 0x61);
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      fs.writeSync(fd, buf);
      fs.fsyncSync(fd);
      lat.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  lat.sort((a, b) => a - b);
  return { perSec: lat.length / seconds, count: lat.length, p50Ms: lat[Math.floor(lat.length / 2)] ?? 0 };
}

async function groupCommit(
  dir: string,
): Promise<{ perSec: number; perFsync: number; entries: number; p50Ms: number }> {
  const store = await ArborStore.open(path.join(dir, 'store'));
  const data = new Uint8Array(ENTRY_BYTES).fill(0x62);
  let next = (await store.loadRaft()).entries.length;
  const before = store.stats();
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const i = ++next;
      const t0 = performance.now();
      await store.persist({
        hardState: { term: term(1), vote: nodeId(1), commit: logIndex(i) },
        entries: [{ index: logIndex(i), term: term(1), type: EntryType.Normal, data }],
      });
      lat.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const after = store.stats();
  await store.close();
  lat.sort((a, b) => a - b);
  const entries = after.persistedEntries - before.persistedEntries;
  return {
    entries,
    perSec: entries / elapsed,
    perFsync: entries / Math.max(1, after.syncedBatches - before.syncedBatches),
    p50Ms: lat[Math.floor(lat.length / 2)] ?? 0,
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(baseDir, 'arbor-storage-bench-'));
  try {
    const raw = rawFsync(dir);
    print(
      `raw fsync (${ENTRY_BYTES} B write + fsync) in ${baseDir}: ${raw.perSec.toFixed(0)} fsyncs/s ` +
        `(${raw.count} in ${seconds}s, p50 ${raw.p50Ms.toFixed(2)} ms)`,
    );
    const gc = await groupCommit(dir);
    print(
      `persist, ${callers} concurrent callers x 1 entry of ${ENTRY_BYTES} B: ${gc.perSec.toFixed(0)} entries/s, ` +
        `${gc.perFsync.toFixed(1)} entries per fsync (${gc.entries} entries, p50 ack ${gc.p50Ms.toFixed(2)} ms)`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
