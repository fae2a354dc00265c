/**
 * A member restores its tree from disk a read batch at a time (beginRestore, restoreRecords per
 * batch, finishRestore): the result must be the tree restore() builds from all records at once.
 */
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/tree/data-tree.js';
import { create, Driver, set } from './helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const dump = (t: DataTree): string[] => [...t.records()].map(([k, v]) => `${hex(k)}=${hex(v)}`).sort();

describe('restore in batches', () => {
  it.each([1, 3, 64, 1000])('batches of %i give the same tree, digest and records as restore()', (size) => {
    const d = new Driver();
    const s = d.session();
    d.ok(create('/a', { data: 'x' }));
    for (let i = 0; i < 40; i++) d.ok(create(`/a/k${i}`, { data: `v${i}` }));
    d.ok(set('/a/k3', 'changed'));
    d.ok(create('/e', { mode: 'ephemeral', session: s }));
    const records = [...d.tree.records()];

    const whole = DataTree.fromRecords(records, d.tree.limits);
    const batched = new DataTree(d.tree.limits);
    batched.beginRestore();
    for (let i = 0; i < records.length; i += size) batched.restoreRecords(records.slice(i, i + size));
    batched.finishRestore();

    expect(batched.digest()).toBe(whole.digest());
    expect(batched.digest()).toBe(d.tree.digest());
    expect(dump(batched)).toEqual(dump(whole));
    expect(batched.get('/a/k3')).toEqual(whole.get('/a/k3'));
  });
});
