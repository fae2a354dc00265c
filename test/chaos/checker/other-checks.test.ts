import { describe, expect, it } from 'vitest';
import type { RegisterOp, SequentialCreate, WatchLog, WatchedEvent } from './history.js';
import { checkSequential, missingSequential } from './sequential.js';
import { checkWatches } from './watches.js';

const seq = (
  name: string | undefined,
  call: number,
  ret: number,
  outcome: 'ok' | 'info' = 'ok',
): SequentialCreate => ({
  parent: '/s',
  outcome,
  call,
  ret,
  ...(name !== undefined ? { name } : {}),
});

describe('sequential names', () => {
  it('accepts unique names that increase in real-time order', () => {
    expect(
      checkSequential([seq('n-0000000002', 0, 10), seq('n-0000000001', 1, 9), seq('n-0000000003', 11, 12)]),
    ).toEqual([]);
  });
  it('catches a name handed out twice', () => {
    expect(checkSequential([seq('n-0000000001', 0, 1), seq('n-0000000001', 2, 3)]).join()).toMatch(/twice/);
  });
  it('catches a smaller number after a completed create', () => {
    expect(checkSequential([seq('n-0000000005', 0, 1), seq('n-0000000004', 2, 3)]).join()).toMatch(
      /not above/,
    );
  });
  it('catches an acknowledged create missing at the end', () => {
    const c = [seq('n-0000000001', 0, 1), seq(undefined, 2, Infinity, 'info')];
    expect(missingSequential(c, new Map([['/s', new Set<string>()]]))).toEqual(['/s/n-0000000001']);
    expect(missingSequential(c, new Map([['/s', new Set(['n-0000000001'])]]))).toEqual([]);
  });
});

const ev = (path: string, version: number, revision: number, data: string): WatchedEvent => ({
  type: 'UPDATED',
  path,
  version,
  revision,
  data,
});
const w = (key: string, value: string, outcome: 'ok' | 'fail' = 'ok'): RegisterOp => ({
  id: 0,
  process: 'p',
  key,
  f: 'write',
  value,
  outcome,
  call: 0,
  ret: 1,
});
const log = (events: WatchedEvent[], member = 1, compactions: number[] = []): WatchLog => ({
  member,
  events,
  compactions,
});
const check = (logs: WatchLog[], history: RegisterOp[], final: [string, number][]): string[] =>
  checkWatches(logs, history, new Map(final), (k) => `/c/${k}`, 'init');

describe('watch streams', () => {
  const history = [w('a', 'x'), w('a', 'y'), w('b', 'z')];
  const good = [ev('/c/a', 1, 5, 'x'), ev('/c/b', 1, 6, 'z'), ev('/c/a', 2, 7, 'y')];
  it('accepts complete, ordered streams that agree', () => {
    expect(
      check([log(good), log(good, 2)], history, [
        ['/c/a', 2],
        ['/c/b', 1],
      ]),
    ).toEqual([]);
  });
  it.each<[string, WatchedEvent[], RegExp]>([
    ['a gap', [ev('/c/a', 1, 5, 'x'), ev('/c/b', 1, 6, 'z'), ev('/c/a', 3, 7, 'y')], /gap/],
    ['a duplicate', [...good, good[2]!], /duplicate/],
    ['a reordering', [good[0]!, good[2]!, good[1]!], /arrived after/],
    ['a failed write delivered', [...good, ev('/c/a', 3, 8, 'bad')], /definitely failed/],
    ['a stream that stops early', good.slice(0, 2), /final version/],
  ])('catches %s', (_n, events, re) => {
    const h = [...history, w('a', 'bad', 'fail')];
    expect(
      check([log(events)], h, [
        ['/c/a', 2],
        ['/c/b', 1],
      ]).join('\n'),
    ).toMatch(re);
  });
  it('accepts a stream whose last reopening reported a compaction (a member rejoined from a snapshot)', () => {
    // The stream got a and b at v1, then its member was replaced and answered the reopened stream
    // with OUT_OF_RANGE: the update to v2 is inside the compacted range, not missing.
    const cut = good.slice(0, 2);
    const final: [string, number][] = [
      ['/c/a', 2],
      ['/c/b', 1],
    ];
    const reopened = (start: number): WatchLog => ({
      ...log(cut, 1, [2]),
      streams: [
        { index: 0, startRevision: 5 },
        { index: 2, startRevision: start },
      ],
    });
    expect(check([reopened(8), log(good, 2)], history, final)).toEqual([]);
    // Without the compaction it is a stream that stopped early.
    expect(check([log(cut, 1, []), log(good, 2)], history, final).join()).toMatch(/final version/);
    // Reopened at revision 7 (a compaction below the final update): v2 @7 must still arrive.
    expect(check([reopened(7), log(good, 2)], history, final).join()).toMatch(/never got \/c\/a v2 @7/);
  });
  it('catches members that disagree about a revision', () => {
    const other = [ev('/c/a', 1, 5, 'y'), ev('/c/b', 1, 6, 'z'), ev('/c/a', 2, 7, 'y')];
    expect(
      check([log(good), log(other, 2)], history, [
        ['/c/a', 2],
        ['/c/b', 1],
      ]).join(),
    ).toMatch(/disagree/);
  });
});
