import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { StorageError } from '../../src/storage/storage-error.js';
import { ChunkEncoder } from '../../src/storage/snapshot-chunk.js';
import type { SnapshotReader } from '../../src/storage/store-interface.js';
import { applied, entries, hardState, records, tempDir, utf8 } from './helpers.js';

const dirs: string[] = [];
const stores: ArborStore[] = [];
async function open(dir?: string): Promise<{ store: ArborStore; dir: string }> {
  const d = dir ?? tempDir('snap');
  if (dir === undefined) dirs.push(d);
  const store = await ArborStore.open(d);
  stores.push(store);
  return { store, dir: d };
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const put = (k: string, v: string): { key: Uint8Array; value: Uint8Array } => ({
  key: utf8(k),
  value: utf8(v),
});
const del = (k: string): { key: Uint8Array; value: null } => ({ key: utf8(k), value: null });

async function collect(reader: SnapshotReader, maxChunkBytes?: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of reader.chunks(maxChunkBytes)) out.push(c);
  return out;
}

/** A store holding `n` records k0000.. plus some log, applied at 10n. */
async function populated(n: number): Promise<{ store: ArborStore; dir: string }> {
  const s = await open();
  await s.store.persist({ hardState: hardState(2, 1, n), entries: entries(1, n, 2) });
  const muts = [];
  for (let i = 0; i < n; i++) muts.push(put(`k${String(i).padStart(4, '0')}`, `value-${i}`));
  await s.store.commitApply(applied(n, 2, utf8('digest')), muts);
  return s;
}

describe('commitApply', () => {
  it('makes mutations and applied meta visible together after reopen', async () => {
    const { store, dir } = await open();
    await store.commitApply(applied(1), [put('/a', '1'), put('/b', '2')]);
    await store.commitApply(applied(2, 1, utf8('x')), [put('/a', '3'), del('/b'), put('/c', '4')]);
    await store.close();
    const again = (await open(dir)).store;
    expect(await again.loadApplied()).toEqual(applied(2, 1, utf8('x')));
    expect(await records(again)).toEqual(
      new Map([
        ['/a', '3'],
        ['/c', '4'],
      ]),
    );
  });

  it('is all-or-nothing when the batch fails: neither meta nor mutations land', async () => {
    const dir = tempDir('atomic');
    dirs.push(dir);
    let failNext = false;
    const store = await ArborStore.open(dir, {
      faults: {
        beforeApplyCommit: () => {
          if (failNext) throw new Error('injected disk failure');
        },
      },
    });
    await store.commitApply(applied(1), [put('/a', '1')]);
    failNext = true;
    await expect(store.commitApply(applied(2), [put('/a', '2'), put('/b', '2')])).rejects.toMatchObject({
      code: 'io',
    });
    // Poisoned: no further writes are accepted after a failed durable write.
    expect(() => store.persist({ hardState: hardState(1, 1, 1) })).toThrow(StorageError);
    await store.close();
    const again = (await open(dir)).store;
    expect((await again.loadApplied()).index).toBe(1);
    expect(await records(again)).toEqual(new Map([['/a', '1']]));
  });
});

describe('snapshots', () => {
  it('a reader sees a consistent view while writes continue', async () => {
    const { store } = await populated(50);
    const reader = await store.openSnapshot();
    // Writes after openSnapshot, including a flip of the applied meta, must not show up.
    await store.commitApply(applied(60, 2), [put('k0000', 'changed'), put('zzz', 'new'), del('k0001')]);
    const target = (await open()).store;
    const inst = await target.beginInstall(reader.meta);
    for (const c of await collect(reader, 64)) await inst.write(c);
    await inst.commit();
    await reader.close();
    expect(reader.meta).toEqual(applied(50, 2, utf8('digest')));
    const got = await records(target);
    expect(got.size).toBe(50);
    expect(got.get('k0000')).toBe('value-0');
    expect(got.get('k0001')).toBe('value-1');
    expect(got.has('zzz')).toBe(false);
  });

  it('install round trip: tree, applied meta and log start move to the receiver; its log is emptied', async () => {
    const { store: src } = await populated(300);
    const { store: dst, dir } = await open();
    await dst.persist({ hardState: hardState(1, 2, 3), entries: entries(1, 20, 1) });
    await dst.commitApply(applied(3, 1), [put('old', 'x')]);
    const reader = await src.openSnapshot();
    const chunks = await collect(reader, 1000);
    await reader.close();
    expect(chunks.length).toBeGreaterThan(3);
    const inst = await dst.beginInstall(reader.meta);
    for (const c of chunks) await inst.write(c);
    await inst.commit();
    await dst.close();
    const again = (await open(dir)).store;
    expect(await again.loadApplied()).toEqual(reader.meta);
    const raft = await again.loadRaft();
    expect(raft.entries).toEqual([]);
    expect(raft.snapshotMeta.index).toBe(300);
    expect(raft.snapshotMeta.term).toBe(2);
    expect(raft.hardState.commit).toBe(300);
    const got = await records(again);
    expect(got.size).toBe(300);
    expect(got.get('k0299')).toBe('value-299');
    expect(got.has('old')).toBe(false);
    // The log continues after the snapshot.
    await again.persist({ entries: entries(301, 302, 3) });
    expect(again.stats().lastIndex).toBe(302);
  });

  it('abort leaves the old state intact', async () => {
    const { store: src } = await populated(100);
    const { store: dst, dir } = await open();
    await dst.commitApply(applied(5, 1), [put('mine', 'kept')]);
    const reader = await src.openSnapshot();
    const chunks = await collect(reader, 200);
    await reader.close();
    const inst = await dst.beginInstall(reader.meta);
    await inst.write(chunks[0]!);
    await inst.write(chunks[1]!);
    await inst.abort();
    await dst.close();
    const again = (await open(dir)).store;
    expect(await records(again)).toEqual(new Map([['mine', 'kept']]));
    expect((await again.loadApplied()).index).toBe(5);
    expect(again.diskUsage()).toBeGreaterThan(0);
  });

  it('a crash mid-install leaves the old state, and the leftovers are cleaned on next open', async () => {
    const { store: src } = await populated(100);
    const reader = await src.openSnapshot();
    const chunks = await collect(reader, 200);
    await reader.close();
    const dir = tempDir('crash-install');
    dirs.push(dir);
    const dst = await ArborStore.open(dir);
    await dst.commitApply(applied(5, 1), [put('mine', 'kept')]);
    const inst = await dst.beginInstall(reader.meta);
    for (const c of chunks.slice(0, -1)) await inst.write(c);
    // "Crash": close without commit or abort (the process would just vanish here).
    await dst.close();
    const again = (await open(dir)).store;
    expect(await records(again)).toEqual(new Map([['mine', 'kept']]));
    // Nothing of the half-received generation is left on disk.
    await again.close();
    const raw = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await raw.open();
    const treeKeys = await raw.keys({ gte: utf8('t'), lt: utf8('u') }).all();
    await raw.close();
    expect(treeKeys).toHaveLength(1);
    // A second install after the crash still works.
    const third = (await open(dir)).store;
    const inst2 = await third.beginInstall(reader.meta);
    for (const c of chunks) await inst2.write(c);
    await inst2.commit();
    expect((await records(third)).size).toBe(100);
  });

  it('an empty tree is still a complete snapshot (one final chunk)', async () => {
    const { store: src } = await open();
    await src.commitApply(applied(7), []);
    const reader = await src.openSnapshot();
    const chunks = await collect(reader);
    await reader.close();
    expect(chunks).toHaveLength(1);
    const { store: dst } = await open();
    await dst.commitApply(applied(2), [put('gone', 'x')]);
    const inst = await dst.beginInstall(reader.meta);
    await inst.write(chunks[0]!);
    await inst.commit();
    expect((await records(dst)).size).toBe(0);
    expect((await dst.loadApplied()).index).toBe(7);
  });

  describe('hostile chunk streams are rejected without touching the live state', () => {
    const meta = applied(40, 2, utf8('digest'));
    const good = async (): Promise<Uint8Array[]> => {
      const { store } = await populated(40);
      const r = await store.openSnapshot();
      const cs = await collect(r, 100);
      await r.close();
      return cs;
    };
    const flip = (c: Uint8Array, at: number): Uint8Array => {
      const x = new Uint8Array(c);
      x[at] = (x[at]! ^ 0x40) & 0xff;
      return x;
    };
    const cases: Array<[string, (cs: Uint8Array[]) => Uint8Array[]]> = [
      ['a flipped byte', (cs) => [flip(cs[0]!, 10), ...cs.slice(1)]],
      ['a truncated chunk', (cs) => [cs[0]!.subarray(0, cs[0]!.length - 7), ...cs.slice(1)]],
      ['random bytes', () => [new Uint8Array(64).fill(0x41)]],
      ['a missing chunk', (cs) => [cs[0]!, ...cs.slice(2)]],
      ['a replayed chunk', (cs) => [cs[0]!, cs[0]!, ...cs.slice(1)]],
      ['a missing final chunk then commit', (cs) => cs.slice(0, -1)],
      ['chunks of another snapshot', () => [new ChunkEncoder(41, 2, 100).finish()]],
      ['a chunk after the final one', (cs) => [...cs, cs[cs.length - 1]!]],
      ['a final chunk lying about the total', () => [lyingFinalChunk()]],
    ];
    it.each(cases)('%s', async (_name, mangle) => {
      const chunks = mangle(await good());
      const { store: dst, dir } = await open();
      await dst.commitApply(applied(3), [put('mine', 'kept')]);
      const inst = await dst.beginInstall(meta);
      const run = async (): Promise<void> => {
        for (const c of chunks) await inst.write(c);
        await inst.commit();
      };
      const e: unknown = await run().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(StorageError);
      expect((e as StorageError).code).toBe('badSnapshot');
      expect((e as StorageError).message).toContain(dir);
      expect(await records(dst)).toEqual(new Map([['mine', 'kept']]));
      expect((await dst.loadApplied()).index).toBe(3);
    });

    it('fuzzed bytes never crash or install (property)', async () => {
      const { store: dst } = await open();
      await dst.commitApply(applied(3), [put('mine', 'kept')]);
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
          const inst = await dst.beginInstall(meta);
          await expect(inst.write(bytes)).rejects.toMatchObject({ code: 'badSnapshot' });
          await inst.abort();
        }),
        { numRuns: 200 },
      );
      expect(await records(dst)).toEqual(new Map([['mine', 'kept']]));
    });
  });

  it('snapshot meta read inside the view matches its data even when applied moves on', async () => {
    const { store } = await populated(10);
    const reader = await store.openSnapshot();
    await store.commitApply(applied(11, 2), [put('k0000', 'x')]);
    expect(reader.meta.index).toBe(10);
    const chunks = await collect(reader);
    await reader.close();
    const { store: dst } = await open();
    const inst = await dst.beginInstall(reader.meta);
    for (const c of chunks) await inst.write(c);
    await inst.commit();
    expect((await records(dst)).get('k0000')).toBe('value-0');
    expect((await dst.loadApplied()).index).toBe(10);
  });
});

/** A well-formed final chunk with 2 records whose header claims 3 (CRC fixed up): a lying sender. */
function lyingFinalChunk(): Uint8Array {
  const e = new ChunkEncoder(40, 2, 1 << 20);
  e.add(utf8('a'), utf8('1'));
  e.add(utf8('b'), utf8('2'));
  const x = new Uint8Array(e.finish());
  // Header: 'A' 'S' version flags index term seq total — every varint here is one byte.
  expect(x[7]).toBe(2);
  x[7] = 3;
  new DataView(x.buffer).setUint32(x.length - 4, crc32(x.subarray(0, x.length - 4)));
  return x;
}
