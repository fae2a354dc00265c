import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/util/bytes.js';
import { DataTree } from '../../src/tree/data-tree.js';
import { InvariantError } from '../../src/util/assert.js';
import { create, Driver, openSession, set, state } from './helpers.js';
import { resolve, stepArb } from './gen.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** A key/value store fed by takeChanges(), like the server's LevelDB batch. */
class Store {
  readonly kv = new Map<string, Uint8Array>();
  persist(tree: DataTree): void {
    for (const m of tree.takeChanges()) {
      if (m.value === null) this.kv.delete(hex(m.key));
      else this.kv.set(hex(m.key), m.value.slice());
    }
  }
  /** In key (byte) order, as LevelDB iterates. */
  records(): [Uint8Array, Uint8Array][] {
    return [...this.kv.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [unhex(k), v]);
  }
}

describe('takeChanges', () => {
  it('lists each changed record once, with its final value, and then nothing', () => {
    const d = new Driver();
    d.tree.takeChanges();
    d.ok(create('/a', { data: '1' }));
    d.ok(set('/a', '2'));
    d.ok(set('/a', '3'));
    const ch = d.tree.takeChanges();
    const keys = ch.map((m) => Buffer.from(m.key).toString('latin1')).sort();
    expect(keys).toEqual(['m', 'n/', 'n/a']);
    expect(d.tree.takeChanges()).toEqual([]);
  });

  it('reports deleted records as null values', () => {
    const d = new Driver();
    const s = d.session();
    d.ok(create('/e', { mode: 'ephemeral', session: s }));
    d.tree.takeChanges();
    d.ok({ type: 'closeSession', sessionId: s });
    const ch = d.tree.takeChanges();
    const deleted = ch.filter((m) => m.value === null).map((m) => m.key[0]);
    expect(deleted.sort()).toEqual([0x6e, 0x73]); // the node and the session
  });

  it('keys sort parents before children', () => {
    const d = new Driver();
    for (const p of ['/a', '/a-b', '/a/b', '/a/b/c', '/a.z']) d.ok(create(p));
    const store = new Store();
    store.persist(d.tree);
    const nodes = store
      .records()
      .map(([k]) => Buffer.from(k).toString('utf8'))
      .filter((k) => k.startsWith('n'));
    for (const [i, k] of nodes.entries()) {
      const path = k.slice(1);
      const par = path.slice(0, Math.max(1, path.lastIndexOf('/')));
      if (path !== '/') expect(nodes.indexOf('n' + par)).toBeLessThan(i);
    }
  });
});

describe('restore', () => {
  it('an empty store restores a fresh tree', () => {
    const t = DataTree.fromRecords([]);
    expect(t.digest()).toBe(new DataTree().digest());
    expect(t.size()).toBe(1);
  });

  it('rejects records that do not form a tree, and garbage', () => {
    const d = new Driver();
    d.ok(create('/a'));
    d.ok(create('/a/b'));
    const recs = [...d.tree.records()].filter(([k]) => Buffer.from(k).toString() !== 'n/a');
    expect(() => DataTree.fromRecords(recs)).toThrow(InvariantError);
    expect(() => DataTree.fromRecords([[new Uint8Array([0x6e, 0x2f]), new Uint8Array([9, 9])]])).toThrow(
      DecodeError,
    );
    expect(() => DataTree.fromRecords([[new Uint8Array([0x7a]), new Uint8Array([1])]])).toThrow(DecodeError);
  });

  it('property: a tree restored from its persisted changes equals the original and stays in lockstep', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { maxLength: 60 }),
        fc.array(stepArb, { maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        (steps, after, every) => {
          const d = new Driver({ clientIdleMs: 200 });
          const store = new Store();
          steps.forEach((s, i) => {
            d.timeMs += s.advanceMs;
            const client =
              i % 3 === 0 ? { clientId: `c${i % 2}`, seq: i, firstUnacked: Math.max(0, i - 4) } : undefined;
            d.apply(resolve(s, d.tree, d.timeMs), client);
            if (i % every === 0) store.persist(d.tree);
          });
          store.persist(d.tree);
          const r = DataTree.fromRecords(store.records(), d.tree.limits);
          expect(r.digest()).toBe(d.tree.digest());
          expect(state(r)).toEqual(state(d.tree));
          expect(r.revisionApplied()).toBe(d.tree.revisionApplied());
          expect(r.sessions()).toEqual(d.tree.sessions());
          expect(r.takeChanges()).toEqual([]);
          // Both replicas now apply the same entries: same results, events and digests.
          let rev = d.rev;
          for (const [i, s] of after.entries()) {
            d.timeMs += s.advanceMs;
            rev++;
            const env = {
              timeMs: d.timeMs,
              client: { clientId: `c${i % 2}`, seq: steps.length + i, firstUnacked: 0 },
              command: resolve(s, d.tree, d.timeMs),
            };
            const a = d.tree.apply(env, rev);
            const b = r.apply(env, rev);
            expect(b).toEqual(a);
            expect(r.digest()).toBe(d.tree.digest());
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('records() is a full image: restoring it equals the original', () => {
    const d = new Driver();
    const s = d.session();
    d.ok(create('/x/y', { parents: true, data: 'data' }));
    d.ok(create('/x/e', { mode: 'ephemeral', session: s }));
    d.ok(create('/c', { mode: 'container' }));
    d.ok(create('/t', { mode: 'persistentWithTtl', ttlMs: 5 }));
    d.ok(openSession(), { clientId: 'me', seq: 1, firstUnacked: 0 });
    const r = DataTree.fromRecords(d.tree.records());
    expect(r.digest()).toBe(d.tree.digest());
    expect(r.ephemeralsOf(s)).toEqual(['/x/e']);
    expect(r.findSweepTargets(d.timeMs + 10)).toEqual(d.tree.findSweepTargets(d.timeMs + 10));
    expect(r.children('/x')).toEqual(d.tree.children('/x'));
  });
});
