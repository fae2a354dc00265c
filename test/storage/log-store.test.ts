import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { logIndex } from '../../src/util/brand.js';
import { InvariantError } from '../../src/util/assert.js';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { applied, entries, entry, hardState, tempDir } from './helpers.js';

const dirs: string[] = [];
const stores: ArborStore[] = [];
async function fresh(): Promise<{ store: ArborStore; dir: string }> {
  const dir = tempDir('log');
  dirs.push(dir);
  const store = await ArborStore.open(dir);
  stores.push(store);
  return { store, dir };
}
async function reopen(store: ArborStore, dir: string): Promise<ArborStore> {
  await store.close();
  const s = await ArborStore.open(dir);
  stores.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const indexes = (es: readonly Entry[]): number[] => es.map((e) => e.index);
const terms = (es: readonly Entry[]): number[] => es.map((e) => e.term);

describe('raft log store', () => {
  it('initialises an empty directory with a zero state', async () => {
    const { store } = await fresh();
    const raft = await store.loadRaft();
    expect(raft.hardState).toEqual(hardState(0, 0, 0));
    expect(raft.snapshotMeta.index).toBe(0);
    expect(raft.entries).toEqual([]);
    expect((await store.loadApplied()).index).toBe(0);
  });

  it('appends entries and keeps type, term and data exactly', async () => {
    const { dir, store: first } = await fresh();
    let store = first;
    const conf: Entry = {
      index: logIndex(3),
      term: entry(3).term,
      type: EntryType.ConfChange,
      data: new Uint8Array(),
    };
    const written = [entry(1), entry(2), conf];
    await store.persist({ entries: written });
    store = await reopen(store, dir);
    expect((await store.loadRaft()).entries).toEqual(written);
  });

  it('overwriting from index i deletes the conflicting suffix beyond the new last (§5.3)', async () => {
    const { dir, store: first } = await fresh();
    let store = first;
    await store.persist({ entries: entries(1, 10, 1) });
    await store.persist({ entries: entries(6, 7, 2) });
    store = await reopen(store, dir);
    const got = (await store.loadRaft()).entries;
    expect(indexes(got)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(terms(got)).toEqual([1, 1, 1, 1, 1, 2, 2]);
    expect(store.stats().lastIndex).toBe(7);
  });

  it('refuses a gap or a non-contiguous batch as a broken invariant', async () => {
    const { store } = await fresh();
    await store.persist({ entries: entries(1, 3) });
    expect(() => store.persist({ entries: [entry(5)] })).toThrow(InvariantError);
    expect(() => store.persist({ entries: [entry(4), entry(6)] })).toThrow(InvariantError);
  });

  it('persists the hard state alone or with entries', async () => {
    const { dir, store: first } = await fresh();
    let store = first;
    await store.persist({ hardState: hardState(2, 1, 0) });
    await store.persist({ hardState: hardState(3, 2, 4), entries: entries(1, 5, 3) });
    store = await reopen(store, dir);
    const raft = await store.loadRaft();
    expect(raft.hardState).toEqual(hardState(3, 2, 4));
    expect(indexes(raft.entries)).toEqual([1, 2, 3, 4, 5]);
  });

  it('compaction drops the prefix and keeps term(upTo) as the log start', async () => {
    const { dir, store: first } = await fresh();
    let store = first;
    await store.persist({ entries: [...entries(1, 4, 1), ...entries(5, 9, 2)] });
    await store.commitApply(applied(6, 2), []);
    await store.compactLog(logIndex(5));
    store = await reopen(store, dir);
    const raft = await store.loadRaft();
    expect(raft.snapshotMeta.index).toBe(5);
    expect(raft.snapshotMeta.term).toBe(2);
    expect(raft.snapshotMeta.conf).toEqual(applied(6).conf);
    expect(indexes(raft.entries)).toEqual([6, 7, 8, 9]);
    expect(store.stats().logRecords).toBe(4);
  });

  it('compaction beyond the applied index is refused; at or below the start is a no-op', async () => {
    const { store } = await fresh();
    await store.persist({ entries: entries(1, 5) });
    await store.commitApply(applied(2), []);
    expect(() => store.compactLog(logIndex(3))).toThrow(InvariantError);
    await store.compactLog(logIndex(2));
    await store.compactLog(logIndex(1));
    expect(store.stats().logStartIndex).toBe(2);
  });

  it('entries at or below the applied index cannot be overwritten', async () => {
    const { store } = await fresh();
    await store.persist({ entries: entries(1, 5) });
    await store.commitApply(applied(3), []);
    expect(() => store.persist({ entries: [entry(3, 2)] })).toThrow(InvariantError);
  });

  it('close + reopen preserves log, hard state, log start and applied meta', async () => {
    const { dir, store: first } = await fresh();
    let store = first;
    await store.persist({ hardState: hardState(4, 3, 8), entries: entries(1, 12, 4) });
    await store.commitApply(applied(8, 4, new Uint8Array([7, 7])), []);
    await store.compactLog(logIndex(6));
    const before = await store.loadRaft();
    store = await reopen(store, dir);
    expect(await store.loadRaft()).toEqual(before);
    expect(await store.loadApplied()).toEqual(applied(8, 4, new Uint8Array([7, 7])));
  });

  it('matches a simple in-memory log model under random append/overwrite/compact (property)', async () => {
    type Step = { kind: 'append'; at: number; n: number; t: number } | { kind: 'compact'; frac: number };
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('append' as const),
        at: fc.nat(20),
        n: fc.integer({ min: 1, max: 5 }),
        t: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ kind: fc.constant('compact' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 15 }), async (steps: Step[]) => {
        const dir = tempDir('prop');
        dirs.push(dir);
        let store = await ArborStore.open(dir);
        // Model: term per index, plus start/applied/current term.
        let model: number[] = []; // model[i] = term of entry start+1+i
        let start = 0;
        let applied_ = 0;
        let curTerm = 1;
        for (const s of steps) {
          const last = start + model.length;
          if (s.kind === 'append') {
            // Raft only appends at or after applied+1 and never leaves a gap; terms never decrease.
            const lo = Math.max(applied_, start) + 1;
            const from = Math.min(Math.max(lo, lo + (s.at % (last - lo + 2))), last + 1);
            curTerm = Math.max(curTerm, s.t);
            const es = [];
            for (let i = 0; i < s.n; i++) es.push(entry(from + i, curTerm));
            await store.persist({ entries: es });
            model = model.slice(0, from - start - 1).concat(es.map((e) => e.term as number));
          } else {
            const to = start + Math.floor(s.frac * model.length);
            if (to > applied_) {
              applied_ = to;
              await store.commitApply(applied(to, model[to - start - 1] ?? 0), []);
            }
            await store.compactLog(logIndex(to));
            if (to > start) {
              model = model.slice(to - start);
              start = to;
            }
          }
        }
        await store.close();
        store = await ArborStore.open(dir);
        const raft = await store.loadRaft();
        await store.close();
        expect(raft.snapshotMeta.index).toBe(start);
        expect(terms(raft.entries)).toEqual(model);
        expect(indexes(raft.entries)).toEqual(model.map((_, i) => start + 1 + i));
      }),
      { numRuns: 25 },
    );
  });
});
