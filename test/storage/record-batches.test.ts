/**
 * readRecordBatches (what a restarting member restores its tree from) yields exactly the records
 * readRecords does, in the same order, as plain Uint8Arrays; stopping early releases the iterator.
 */
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { applied, str, tempDir, utf8 } from './helpers.js';

const dirs: string[] = [];
const stores: ArborStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function populated(n: number): Promise<ArborStore> {
  const dir = tempDir('batches');
  dirs.push(dir);
  const store = await ArborStore.open(dir);
  stores.push(store);
  const muts = Array.from({ length: n }, (_, i) => ({
    key: utf8(`/k${String(i).padStart(6, '0')}`),
    value: utf8(`v${i}`),
  }));
  await store.commitApply(applied(1), muts);
  return store;
}

describe('readRecordBatches', () => {
  it('yields the records of readRecords, in order, across several read batches', async () => {
    const store = await populated(20_000);
    const one: string[] = [];
    for await (const [k, v] of store.readRecords()) one.push(`${str(k)}=${str(v)}`);
    const batched: string[] = [];
    let batches = 0;
    for await (const batch of store.readRecordBatches()) {
      batches++;
      for (const [k, v] of batch) {
        expect(k.constructor).toBe(Uint8Array);
        expect(v.constructor).toBe(Uint8Array);
        batched.push(`${str(k)}=${str(v)}`);
      }
    }
    expect(one).toHaveLength(20_000);
    expect(batched).toEqual(one);
    expect(batches).toBeGreaterThan(1);
  });

  it('can be abandoned after the first batch and the store still closes', async () => {
    const store = await populated(20_000);
    for await (const batch of store.readRecordBatches()) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
    await expect(store.close()).resolves.toBeUndefined();
    stores.splice(0);
  });
});
