/** fast-check generators of command sequences over a small path universe (so they collide). */
import fc from 'fast-check';
import { sessionId } from '../../src/util/brand.js';
import type { Command, CreateMode, MultiOp } from '../../src/tree/commands.js';
import type { DataTree } from '../../src/tree/data-tree.js';
import { bytes } from './helpers.js';

const seg = fc.constantFrom('a', 'b', 'c');
export const pathArb = fc.array(seg, { minLength: 1, maxLength: 3 }).map((s) => '/' + s.join('/'));
const dataArb = fc.constantFrom('', 'x', 'hello', 'ü');
const versionArb = fc.constantFrom(-1, -1, 0, 1, 2);
const modeArb = fc.constantFrom<CreateMode>(
  'persistent',
  'persistent',
  'persistentSequential',
  'ephemeral',
  'ephemeralSequential',
  'container',
  'persistentWithTtl',
);
/** Session ids are revisions, so small numbers are sometimes live. */
const sessionArb = fc.integer({ min: 1, max: 12 }).map((n) => BigInt(n));

export const createArb = fc
  .record({ path: pathArb, data: dataArb, mode: modeArb, session: sessionArb, parents: fc.boolean() })
  .map(({ path, data, mode, session, parents }): MultiOp => ({
    type: 'create',
    path,
    data: bytes(data),
    mode,
    sessionId: sessionId(mode === 'ephemeral' || mode === 'ephemeralSequential' ? session : 0n),
    ttlMs: mode === 'persistentWithTtl' ? 50 : 0,
    createParents: parents,
  }));
const setArb = fc
  .record({ path: pathArb, data: dataArb, v: versionArb })
  .map(({ path, data, v }): MultiOp => ({ type: 'set', path, data: bytes(data), expectedVersion: v }));
const deleteArb = fc
  .record({ path: pathArb, v: versionArb, r: fc.boolean() })
  .map(({ path, v, r }): MultiOp => ({ type: 'delete', path, expectedVersion: v, recursive: r }));
const checkArb = fc
  .record({ path: pathArb, v: versionArb })
  .map(({ path, v }): MultiOp => ({ type: 'check', path, expectedVersion: v }));

export const opArb = fc.oneof(createArb, setArb, deleteArb, checkArb);

/** A step: a command, or 'sweep' (resolved against the tree at apply time), plus elapsed time. */
export type Step = { readonly advanceMs: number; readonly command: Command | 'sweep' };

export const stepArb: fc.Arbitrary<Step> = fc.record({
  advanceMs: fc.constantFrom(0, 0, 10, 60),
  command: fc.oneof(
    { weight: 5, arbitrary: createArb },
    { weight: 2, arbitrary: setArb },
    { weight: 2, arbitrary: deleteArb },
    {
      weight: 2,
      arbitrary: fc
        .array(opArb, { minLength: 1, maxLength: 4 })
        .map((ops): Command => ({ type: 'multi', ops })),
    },
    { weight: 1, arbitrary: fc.constant<Command>({ type: 'openSession', timeoutMs: 1000 }) },
    {
      weight: 1,
      arbitrary: sessionArb.map((id): Command => ({ type: 'closeSession', sessionId: sessionId(id) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(sessionArb, { maxLength: 3 })
        .map((ids): Command => ({ type: 'expireSessions', sessionIds: ids.map(sessionId) })),
    },
    { weight: 1, arbitrary: fc.constant<'sweep'>('sweep') },
  ),
});

export function resolve(step: Step, tree: DataTree, nowMs: number): Command {
  return step.command === 'sweep' ? { type: 'sweep', targets: tree.findSweepTargets(nowMs) } : step.command;
}
