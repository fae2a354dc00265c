import { describe, expect, it } from 'vitest';
import type { TreeEventType } from '../../src/tree/events.js';
import type { ZPath } from '../../src/tree/path.js';
import { WatchIndex, type WatchScope } from '../../src/tree/watch-index.js';

const P = (s: string): ZPath => s as ZPath;

describe('WatchIndex.match', () => {
  const cases: [WatchScope, string, TreeEventType, string, boolean][] = [
    // scope, watched path, event type, event path, matches
    ['node', '/a', 'created', '/a', true],
    ['node', '/a', 'updated', '/a', true],
    ['node', '/a', 'deleted', '/a', true],
    ['node', '/a', 'created', '/a/b', false],
    ['node', '/a', 'updated', '/ab', false],
    ['children', '/a', 'created', '/a/b', true],
    ['children', '/a', 'deleted', '/a/b', true],
    ['children', '/a', 'updated', '/a/b', false],
    ['children', '/a', 'created', '/a/b/c', false],
    ['children', '/a', 'updated', '/a', false],
    ['children', '/', 'created', '/x', true],
    ['children', '/', 'updated', '/', false],
    ['subtree', '/a', 'updated', '/a', true],
    ['subtree', '/a', 'created', '/a/b/c', true],
    ['subtree', '/a', 'created', '/ab', false],
    ['subtree', '/a', 'created', '/', false],
    ['subtree', '/', 'deleted', '/x/y', true],
    ['subtree', '/', 'updated', '/', true],
  ];
  it.each(cases)('%s watch on %s, %s %s → %s', (scope, path, type, eventPath, expected) => {
    const w = new WatchIndex();
    w.register(1, P(path), scope);
    expect(w.match({ type, path: P(eventPath) })).toEqual(expected ? [1] : []);
  });

  it('returns every interested watcher once, across scopes', () => {
    const w = new WatchIndex<string>();
    w.register('n', P('/a/b'), 'node');
    w.register('c', P('/a'), 'children');
    w.register('s1', P('/a'), 'subtree');
    w.register('s2', P('/'), 'subtree');
    w.register('other', P('/z'), 'subtree');
    expect(w.match({ type: 'created', path: P('/a/b') }).sort()).toEqual(['c', 'n', 's1', 's2']);
  });

  it('unregister and re-register replace the previous watch', () => {
    const w = new WatchIndex();
    w.register(1, P('/a'), 'node');
    w.register(1, P('/b'), 'node');
    expect(w.match({ type: 'updated', path: P('/a') })).toEqual([]);
    expect(w.match({ type: 'updated', path: P('/b') })).toEqual([1]);
    expect(w.unregister(1)).toBe(true);
    expect(w.unregister(1)).toBe(false);
    expect(w.size).toBe(0);
    expect(w.match({ type: 'updated', path: P('/b') })).toEqual([]);
  });

  it('scales to 100,000 watches: matching touches only the event path and its ancestors', () => {
    const w = new WatchIndex();
    for (let i = 0; i < 100_000; i++) {
      const scope: WatchScope = i % 3 === 0 ? 'node' : i % 3 === 1 ? 'children' : 'subtree';
      w.register(i, P(`/w/${i % 1000}/n${i}`), scope);
    }
    expect(w.size).toBe(100_000);
    // Each event matches only the node/subtree watch on its own path (a children watch on the
    // path itself does not fire for the node's own creation).
    let total = 0;
    for (let i = 0; i < 10_000; i++)
      total += w.match({ type: 'created', path: P(`/w/${i % 1000}/n${i}`) }).length;
    expect(total).toBe(6667);
    expect(w.match({ type: 'created', path: P('/w/1/n1/child') })).toEqual([1]);
  });
});
