import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { StorageError, type StorageErrorCode } from '../../src/storage/storage-error.js';
import { entryKey } from '../../src/storage/codec.js';
import { applied, entries, tempDir, utf8 } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function openError(dir: string): Promise<StorageError> {
  const e: unknown = await ArborStore.open(dir).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StorageError);
  return e as StorageError;
}

/** A store with enough data that LevelDB has flushed table (.ldb) files. */
async function populatedDir(): Promise<string> {
  const dir = tempDir('corrupt');
  dirs.push(dir);
  const s = await ArborStore.open(dir);
  const big = new Uint8Array(2000).fill(7);
  for (let i = 0; i < 40; i++) {
    const es = entries(i * 100 + 1, i * 100 + 100).map((e) => ({ ...e, data: big }));
    await s.persist({ entries: es });
  }
  await s.commitApply(applied(10), [{ key: utf8('k'), value: utf8('v') }]);
  await s.close();
  return dir;
}

/** Raw LevelDB access, to damage one record the way a bad disk would. */
async function rawDb(dir: string): Promise<ClassicLevel<Uint8Array, Uint8Array>> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), {
    keyEncoding: 'view',
    valueEncoding: 'view',
  });
  await db.open();
  return db;
}

function expectClear(e: StorageError, code: StorageErrorCode, dir: string): void {
  expect(e.code).toBe(code);
  expect(e.message).toContain(dir);
  // Says what to do, not only what is wrong.
  expect(e.message).toMatch(/restore|use another|run a matching|stop the other|point the member/);
}

describe('opening damaged or foreign directories fails clearly, never starts empty', () => {
  it('a wrong format version → formatMismatch', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    await db.put(utf8('v'), utf8('arbor-storage/99'));
    await db.close();
    const e = await openError(dir);
    expectClear(e, 'formatMismatch', dir);
    expect(e.message).toContain('arbor-storage/99');
  });

  it('a LevelDB database of some other application → formatMismatch', async () => {
    const dir = tempDir('foreign');
    dirs.push(dir);
    const db = new ClassicLevel(path.join(dir, 'db'));
    await db.open();
    await db.put('hello', 'world');
    await db.close();
    expectClear(await openError(dir), 'formatMismatch', dir);
  });

  it('a db path holding non-LevelDB files → formatMismatch', async () => {
    const dir = tempDir('notdb');
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, 'db'));
    fs.writeFileSync(path.join(dir, 'db', 'notes.txt'), 'hello');
    expectClear(await openError(dir), 'formatMismatch', dir);
  });

  it('a log record with a bad checksum → corrupt', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    const key = entryKey(1234);
    const v = new Uint8Array((await db.get(key))!);
    v[10] = (v[10]! ^ 1) & 0xff;
    await db.put(key, v);
    await db.close();
    const e = await openError(dir);
    expectClear(e, 'corrupt', dir);
    expect(e.message).toContain('checksum');
  });

  it('a missing log record (gap) → corrupt', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    await db.del(entryKey(2000));
    await db.close();
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('missing meta → corrupt', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    await db.del(utf8('a'));
    await db.close();
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('garbled meta → corrupt', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    await db.put(utf8('h'), new Uint8Array([1, 2, 3]));
    await db.close();
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('a truncated table (.ldb) file → corrupt', async () => {
    const dir = await populatedDir();
    const tables = fs.readdirSync(path.join(dir, 'db')).filter((n) => n.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) {
      const f = path.join(dir, 'db', t);
      fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2));
    }
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('a garbled table (.ldb) file → corrupt', async () => {
    const dir = await populatedDir();
    const tables = fs.readdirSync(path.join(dir, 'db')).filter((n) => n.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) {
      const f = path.join(dir, 'db', t);
      const bytes = fs.readFileSync(f);
      const mid = Math.floor(bytes.length / 3);
      for (let i = mid; i < mid + 4096; i++) bytes[i] = (bytes[i]! ^ 0x5a) & 0xff;
      fs.writeFileSync(f, bytes);
    }
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('a tree record with a bad checksum fails when the tree is read at startup', async () => {
    const dir = await populatedDir();
    const db = await rawDb(dir);
    const treeKey = (await db.keys({ gte: utf8('t'), lt: utf8('u') }).all())[0]!;
    const v = new Uint8Array((await db.get(treeKey))!);
    v[v.length - 1] = (v[v.length - 1]! ^ 1) & 0xff;
    await db.put(treeKey, v);
    await db.close();
    const s = await ArborStore.open(dir);
    try {
      const read = async (): Promise<void> => {
        for await (const _ of s.readRecords()) void _;
      };
      const e: unknown = await read().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(StorageError);
      expectClear(e as StorageError, 'corrupt', dir);
    } finally {
      await s.close();
    }
  });

  it('a garbled MANIFEST → corrupt', async () => {
    const dir = await populatedDir();
    const manifest = fs.readdirSync(path.join(dir, 'db')).find((n) => n.startsWith('MANIFEST-'))!;
    const f = path.join(dir, 'db', manifest);
    const bytes = fs.readFileSync(f);
    for (let i = 0; i < bytes.length; i += 7) bytes[i] = 0xff;
    fs.writeFileSync(f, bytes);
    expectClear(await openError(dir), 'corrupt', dir);
  });

  it('a directory in use by another store → locked', async () => {
    const dir = await populatedDir();
    const s = await ArborStore.open(dir);
    try {
      expectClear(await openError(dir), 'locked', dir);
    } finally {
      await s.close();
    }
  });

  it('a nonexistent directory is initialised', async () => {
    const root = tempDir('new');
    dirs.push(root);
    const dir = path.join(root, 'nested', 'member-1');
    const s = await ArborStore.open(dir);
    expect((await s.loadRaft()).entries).toEqual([]);
    await s.close();
  });
});
