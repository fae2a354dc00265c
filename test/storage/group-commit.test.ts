import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { applied, entry, hardState, records, tempDir, utf8 } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir('group');
  dirs.push(d);
  return d;
}

describe('group commit', () => {
  it('merges concurrent persists into fewer synced batches than calls, keeping call order', async () => {
    const d = dir();
    const store = await ArborStore.open(d);
    const calls = 200;
    const done: number[] = [];
    const ps: Array<Promise<void>> = [];
    for (let i = 1; i <= calls; i++)
      ps.push(store.persist({ entries: [entry(i)] }).then(() => void done.push(i)));
    await Promise.all(ps);
    const st = store.stats();
    expect(st.batchedCalls).toBe(calls);
    expect(st.persistedEntries).toBe(calls);
    expect(st.syncedBatches).toBeLessThan(calls / 4);
    // Promises resolve in call order: a caller is never told "durable" before an earlier one.
    expect(done).toEqual([...Array(calls).keys()].map((i) => i + 1));
    await store.close();
    const again = await ArborStore.open(d);
    expect((await again.loadRaft()).entries.map((e) => e.index)).toEqual(done);
    await again.close();
  });

  it('later calls win when merged: an overwrite and a hard state in the same batch apply in order', async () => {
    const d = dir();
    const store = await ArborStore.open(d);
    const ps = [
      store.persist({ hardState: hardState(1, 1, 0), entries: [entry(1, 1), entry(2, 1), entry(3, 1)] }),
      store.persist({ hardState: hardState(2, 2, 1), entries: [entry(2, 2)] }),
      store.commitApply(applied(1, 1), [{ key: utf8('a'), value: utf8('1') }]),
      store.commitApply(applied(1, 1), [{ key: utf8('a'), value: null }]),
      store.commitApply(applied(1, 1), [{ key: utf8('a'), value: utf8('3') }]),
    ];
    await Promise.all(ps);
    await store.close();
    const again = await ArborStore.open(d);
    const raft = await again.loadRaft();
    expect(raft.hardState).toEqual(hardState(2, 2, 1));
    expect(raft.entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(await records(again)).toEqual(new Map([['a', '3']]));
    await again.close();
  });

  it('a failed batch rejects every caller merged into it and poisons the store', async () => {
    const d = dir();
    let calls = 0;
    const store = await ArborStore.open(d, {
      faults: {
        beforePersist: () => {
          if (++calls === 2) throw new Error('injected fsync failure');
        },
      },
    });
    await store.persist({ entries: [entry(1)] });
    const results = await Promise.allSettled([2, 3, 4].map((i) => store.persist({ entries: [entry(i)] })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain(d);
    await store.close();
    const again = await ArborStore.open(d);
    expect((await again.loadRaft()).entries.map((e) => e.index)).toEqual([1]);
    await again.close();
  });

  it('fault points fire around the durable write: after* sees the data already on disk', async () => {
    const d = dir();
    const seen: string[] = [];
    const store = await ArborStore.open(d, {
      faults: {
        beforePersist: (n) => void seen.push(`beforePersist:${n}`),
        afterPersist: (n) => void seen.push(`afterPersist:${n}`),
        beforeApplyCommit: (n) => void seen.push(`beforeApply:${n}`),
        afterApplyCommit: (n) => void seen.push(`afterApply:${n}`),
      },
    });
    await store.persist({ entries: [entry(1)] });
    await Promise.all([store.persist({ entries: [entry(2)] }), store.commitApply(applied(1), [])]);
    expect(seen).toEqual([
      'beforePersist:1',
      'afterPersist:1',
      'beforePersist:1',
      'beforeApply:1',
      'afterPersist:1',
      'afterApply:1',
    ]);
    await store.close();
  });

  it('apply records wait for the next synced batch and ride in it', async () => {
    const d = dir();
    const seen: string[] = [];
    const store = await ArborStore.open(d, {
      // Long enough that only the synced write below can be what writes the apply.
      deferUnsyncedMs: 60_000,
      faults: {
        beforePersist: (n) => void seen.push(`beforePersist:${n}`),
        beforeApplyCommit: (n) => void seen.push(`beforeApply:${n}`),
        afterApplyCommit: (n) => void seen.push(`afterApply:${n}`),
      },
    });
    await store.persist({ entries: [entry(1)] });
    seen.length = 0;
    let appliedDone = false;
    const a = store.commitApply(applied(1), [{ key: utf8('a'), value: utf8('1') }]).then(() => {
      appliedDone = true;
    });
    // A commit-only hard state (unsynced) waits too.
    const h = store.persist({ hardState: hardState(1, 1, 1) }, false);
    await new Promise((r) => setTimeout(r, 50));
    expect(appliedDone).toBe(false);
    expect(seen).toEqual([]);
    await Promise.all([store.persist({ entries: [entry(2)] }), a, h]);
    // One group: both hooks before the write, in call order.
    expect(seen).toEqual(['beforePersist:2', 'beforeApply:1', 'afterApply:1']);
    expect(store.stats().syncedBatches).toBe(2);
    await store.close();
    const again = await ArborStore.open(d);
    expect(await records(again)).toEqual(new Map([['a', '1']]));
    expect((await again.loadRaft()).hardState).toEqual(hardState(1, 1, 1));
    await again.close();
  });

  it('apply records with no synced batch to ride in are written alone after the wait', async () => {
    const d = dir();
    const store = await ArborStore.open(d, { deferUnsyncedMs: 20 });
    await store.commitApply(applied(1), [{ key: utf8('a'), value: utf8('1') }]);
    await store.commitApply(applied(2), [{ key: utf8('b'), value: utf8('2') }]);
    expect(store.stats().syncedBatches).toBe(0);
    await store.close();
    const again = await ArborStore.open(d);
    expect(await records(again)).toEqual(
      new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
    await again.close();
  });

  it('close writes what waits at once', async () => {
    const d = dir();
    // Past the test's timeout: without the flush, close would wait it out.
    const store = await ArborStore.open(d, { deferUnsyncedMs: 600_000 });
    const a = store.commitApply(applied(1), [{ key: utf8('a'), value: utf8('1') }]);
    await store.close();
    await a;
    const again = await ArborStore.open(d);
    expect(await records(again)).toEqual(new Map([['a', '1']]));
    await again.close();
  });

  it('close writes what waits at once even while a batch is being written', async () => {
    const d = dir();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let inFlight: () => void = () => undefined;
    const started = new Promise<void>((r) => (inFlight = r));
    const store = await ArborStore.open(d, {
      deferUnsyncedMs: 600_000,
      faults: {
        beforePersist: async () => {
          inFlight();
          await gate;
        },
      },
    });
    const p = store.persist({ entries: [entry(1)] });
    await started;
    // Queued behind the batch in flight: the drain would otherwise leave it to the timer.
    const a = store.commitApply(applied(1), [{ key: utf8('a'), value: utf8('1') }]);
    const closed = store.close();
    release();
    await Promise.all([p, a, closed]);
    const again = await ArborStore.open(d);
    expect(await records(again)).toEqual(new Map([['a', '1']]));
    await again.close();
  });
});
