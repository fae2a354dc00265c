/**
 * The member's watch fan-out: replay from history then live events with no gap or duplicate,
 * nothing below a watch's start revision, OUT_OF_RANGE past the history, slow consumers cut off.
 */
import { describe, expect, it } from 'vitest';
import { WatchHub, type WatchOut } from '../../src/server/watch-hub.js';
import type { MemberError } from '../../src/server/errors.js';
import type { TreeEvent } from '../../src/tree/events.js';
import { OPEN_ACL } from '../../src/tree/acl.js';
import type { ZPath } from '../../src/tree/path.js';

const stat = {
  createdRevision: 1,
  modifiedRevision: 1,
  childrenRevision: 1,
  version: 0,
  childrenVersion: 0,
  createdMs: 0,
  modifiedMs: 0,
  ephemeralOwner: 0n,
  dataLength: 0,
  numChildren: 0,
  aclVersion: 0,
};
const ev = (revision: number, path = '/a', type: TreeEvent['type'] = 'updated'): TreeEvent => ({
  type,
  path: path as ZPath,
  revision,
  data: new Uint8Array(0),
  stat,
  acl: OPEN_ACL,
});

function sink(writable = true): {
  out: WatchOut[];
  closed: MemberError[];
  send(o: WatchOut): boolean;
  close(e?: MemberError): void;
} {
  const s = {
    out: [] as WatchOut[],
    closed: [] as MemberError[],
    send(o: WatchOut): boolean {
      s.out.push(o);
      return writable;
    },
    close(e?: MemberError): void {
      if (e) s.closed.push(e);
    },
  };
  return s;
}
const revs = (s: { out: WatchOut[] }): number[] =>
  s.out.flatMap((o) => (o.type === 'events' ? o.events.map((e) => e.revision) : []));

const hub = (): WatchHub => new WatchHub({ maxBacklog: 5, historyEvents: 100, historyBytes: 1 << 20 });

describe('WatchHub', () => {
  it('replays history from start_revision, then live events, each once and in order', () => {
    const h = hub();
    for (let r = 1; r <= 5; r++) h.publish([ev(r)], r, 0);
    const s = sink();
    h.open('/a' as ZPath, 'node', 3, 5, s, 0);
    for (let r = 6; r <= 8; r++) h.publish([ev(r)], r, 0);
    expect(s.out[0]).toEqual({ type: 'created', revision: 5 });
    expect(revs(s)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('never sends events below a start revision this member has not reached yet', () => {
    const h = hub();
    const s = sink();
    // The client asked from revision 7; this member has applied only up to 4.
    h.open('/a' as ZPath, 'node', 7, 4, s, 0);
    for (let r = 5; r <= 9; r++) h.publish([ev(r)], r, 0);
    expect(revs(s)).toEqual([7, 8, 9]);
  });

  it('a start revision older than the history is OUT_OF_RANGE naming the oldest revision', () => {
    const h = new WatchHub({ maxBacklog: 5, historyEvents: 3, historyBytes: 1 << 20 });
    for (let r = 1; r <= 10; r++) h.publish([ev(r)], r, 0);
    expect(() => h.open('/a' as ZPath, 'node', 2, 10, sink(), 0)).toThrow(/oldest available revision is 8/);
  });

  it('cuts off a consumer that cannot keep up instead of buffering without bound', () => {
    const h = hub();
    const slow = sink(false);
    h.open('/a' as ZPath, 'node', 0, 0, slow, 0);
    for (let r = 1; r <= 10; r++) h.publish([ev(r)], r, 0);
    expect(slow.closed.map((e) => e.code)).toEqual(['resourceExhausted']);
    expect(h.count).toBe(0);
  });

  it('children scope sees children appear and go, not the node itself', () => {
    const h = hub();
    const s = sink();
    h.open('/p' as ZPath, 'children', 0, 0, s, 0);
    h.publish(
      [ev(1, '/p', 'updated'), ev(2, '/p/c', 'created'), ev(3, '/p/c', 'updated'), ev(4, '/p/c', 'deleted')],
      4,
      0,
    );
    expect(revs(s)).toEqual([2, 4]);
  });

  it('one publish gives each watcher exactly its events, without what it may not see', () => {
    const h = hub();
    const a = sink();
    const b = sink();
    const both = sink();
    const picky = { ...sink(), visible: (e: TreeEvent) => e.path !== '/b' };
    picky.send = (o) => {
      picky.out.push(o);
      return true;
    };
    h.open('/a' as ZPath, 'node', 0, 0, a, 0);
    h.open('/b' as ZPath, 'node', 0, 0, b, 0);
    h.open('/' as ZPath, 'subtree', 0, 0, both, 0);
    h.open('/' as ZPath, 'subtree', 0, 0, picky, 0);
    const batch = [ev(1, '/a'), ev(2, '/b'), ev(3, '/a'), ev(4, '/c')];
    h.publish(batch, 4, 0);
    expect(revs(a)).toEqual([1, 3]);
    expect(revs(b)).toEqual([2]);
    expect(revs(both)).toEqual([1, 2, 3, 4]);
    expect(revs(picky)).toEqual([1, 3, 4]);
    // The next publish starts each watcher's list afresh.
    h.publish([ev(5, '/b')], 5, 0);
    expect(revs(a)).toEqual([1, 3]);
    expect(revs(b)).toEqual([2, 5]);
    expect(revs(picky)).toEqual([1, 3, 4]);
  });

  it('a watcher cancelled by another watcher’s send during a publish gets nothing more', () => {
    // One event (the fast path) and several in one publish: the cancelled watcher was matched
    // before the send that cancelled it either way.
    for (const batch of [[ev(1, '/a')], [ev(1, '/a'), ev(2, '/a')]]) {
      const h = hub();
      const later = sink();
      let laterId = 0;
      const first = sink();
      first.send = (o) => {
        first.out.push(o);
        if (o.type === 'events') h.cancel(laterId);
        return true;
      };
      h.open('/a' as ZPath, 'node', 0, 0, first, 0);
      laterId = h.open('/a' as ZPath, 'node', 0, 0, later, 0);
      h.publish(batch, batch.length, 0);
      expect(revs(first)).toEqual(batch.map((e) => e.revision));
      expect(revs(later)).toEqual([]);
      expect(h.count).toBe(1);
    }
  });
});
