import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check, create, del, Driver, multi, set, state, text } from './helpers.js';
import { opArb, resolve, stepArb } from './gen.js';

describe('multi', () => {
  it('applies every op at one revision and returns one result per op', () => {
    const d = new Driver();
    d.ok(create('/a', { data: 'x' }));
    const o = d.apply(multi(create('/b'), set('/a', 'y', 0), check('/a', 1), del('/b')));
    expect(o.result).toEqual({
      ok: true,
      value: {
        type: 'multi',
        results: [
          expect.objectContaining({ type: 'create', path: '/b' }),
          expect.objectContaining({
            type: 'set',
            stat: expect.objectContaining({ version: 1, modifiedRevision: 2 }),
          }),
          { type: 'check' },
          { type: 'delete' },
        ],
      },
    });
    expect(o.events.map((e) => [e.type, e.path, e.revision])).toEqual([
      ['created', '/b', 2],
      ['updated', '/a', 2],
      ['deleted', '/b', 2],
    ]);
  });

  it('is all or nothing: the first failing op is reported with its index and everything rolls back', () => {
    const d = new Driver();
    d.ok(create('/a', { data: 'x' }));
    const before = state(d.tree);
    const digest = d.tree.digest();
    d.tree.takeChanges();
    const o = d.apply(multi(create('/b'), set('/a', 'y'), del('/a', -1, true), check('/a', 0)));
    expect(o.result.ok).toBe(false);
    if (o.result.ok) return;
    expect(o.result.error).toMatchObject({ code: 'noNode', failedOp: 3, path: '/a' });
    expect(o.result.error.message).toMatch(/^op 3: '\/a' does not exist/);
    expect(o.events).toEqual([]);
    expect(state(d.tree)).toEqual(before);
    expect(d.tree.digest()).toBe(digest);
    expect(text(d.tree.get('/a')?.data)).toBe('x');
  });

  it('ops see the effects of earlier ops in the same multi', () => {
    const d = new Driver();
    const o = d.ok(
      multi(
        create('/p'),
        create('/p/q-', { mode: 'persistentSequential' }),
        set('/p', 'v', 0),
        check('/p', 1),
      ),
    );
    expect(o).toMatchObject({ results: [{ path: '/p' }, { path: '/p/q-0000000000' }, {}, {}] });
  });

  it('a validation failure names the op', () => {
    const d = new Driver();
    const e = d.fail(multi(create('/ok'), create('bad')));
    expect(e).toMatchObject({ code: 'invalidPath', failedOp: 1 });
    expect(e.message).toMatch(/^op 1: path must start with '\/'/);
  });

  it('an empty multi succeeds with no results', () => {
    const d = new Driver();
    expect(d.ok(multi())).toEqual({ type: 'multi', results: [] });
  });

  it('property: a failing multi leaves the digest, every record and the pending changes unchanged', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 6 }), (steps, ops) => {
        const d = new Driver();
        d.ok(create('/base'));
        for (const s of steps) {
          d.timeMs += s.advanceMs;
          d.apply(resolve(s, d.tree, d.timeMs));
        }
        d.tree.takeChanges();
        const before = state(d.tree);
        const digest = d.tree.digest();
        // Force a failure at the end (the root is never at version 10^6).
        const o = d.apply(multi(...ops, check('/', 1_000_000)));
        expect(o.result.ok).toBe(false);
        expect(o.events).toEqual([]);
        expect(d.tree.digest()).toBe(digest);
        expect(state(d.tree)).toEqual(before);
        expect(d.tree.takeChanges().length).toBe(1); // only the meta record (applied revision)
      }),
      { numRuns: 150 },
    );
  });
});
