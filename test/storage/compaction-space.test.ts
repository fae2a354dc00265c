import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { logIndex, term } from '../../src/util/brand.js';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { ArborStore } from '../../src/storage/arbor-store.js';
import type { Mutation } from '../../src/storage/store-interface.js';
import { applied, records, tempDir, utf8 } from './helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * Measured on the 2-core dev box (ext4 on virtio): with compaction the directory peaks at
 * 4.6–6.9 MB over the run (LevelDB's 4 MiB write buffer and its .log file dominate) and ends at
 * 0.04 MB after reopen; the same load WITHOUT compactLog peaks at 51.6 MB. Bounds are ~2x the
 * measured peak, and 1 MB for the final size.
 */
const PEAK_BOUND = 14 * 1024 * 1024;
const FINAL_BOUND = 1024 * 1024;

describe('space is reclaimed', () => {
  it('rewriting the same 100 records 100,000 times with periodic compaction keeps the directory bounded', async () => {
    const dir = tempDir('space');
    dirs.push(dir);
    const store = await ArborStore.open(dir);
    const TOTAL = 100_000;
    const ROUND = 1_000;
    const CALLS = 10;
    const per = ROUND / CALLS;
    let peak = 0;
    for (let base = 0; base < TOTAL; base += ROUND) {
      // Incompressible payloads (snappy would shrink a repeated pattern to nothing).
      const pool = randomBytes(ROUND * 200);
      const data = (i: number): Uint8Array => pool.subarray((i % ROUND) * 200, (i % ROUND) * 200 + 200);
      const ps: Array<Promise<void>> = [];
      for (let c = 0; c < CALLS; c++) {
        const es: Entry[] = [];
        for (let j = 0; j < per; j++) {
          const i = base + c * per + j + 1;
          es.push({ index: logIndex(i), term: term(1), type: EntryType.Normal, data: data(i) });
        }
        ps.push(store.persist({ entries: es }));
      }
      for (let c = 0; c < CALLS; c++) {
        const muts: Mutation[] = [];
        const last = base + (c + 1) * per;
        for (let i = last - per + 1; i <= last; i++)
          muts.push({ key: utf8(`rec-${i % 100}`), value: data(i) });
        ps.push(store.commitApply(applied(last), muts));
      }
      await Promise.all(ps);
      const done = base + ROUND;
      if (done % 10_000 === 0) await store.compactLog(logIndex(done));
      peak = Math.max(peak, store.diskUsage());
    }
    await store.close(); // waits for background range compactions
    // compactLog every 10,000 deletes → a LevelDB compactRange each time (10 in all).
    expect(store.stats().rangeCompactions).toBeGreaterThanOrEqual(9);
    console.log(`space test: peak ${(peak / 1e6).toFixed(1)} MB`);
    const again = await ArborStore.open(dir);
    const tree = await records(again);
    expect(tree.size).toBe(100);
    expect(again.stats().lastIndex).toBe(TOTAL);
    expect(again.stats().logRecords).toBe(0);
    const final = again.diskUsage();
    await again.close();
    console.log(`space test: final ${(final / 1e6).toFixed(2)} MB`);
    expect(peak).toBeLessThan(PEAK_BOUND);
    expect(final).toBeLessThan(FINAL_BOUND);
  });
});
