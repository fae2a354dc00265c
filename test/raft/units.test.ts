/** Unit tests per file: log, unstable, progress/inflights, quorum, memory storage, conf changes. */
import { describe, expect, it } from 'vitest';
import { applyToConf, bootstrapState, validateConfChange } from '../../src/raft/conf-change.js';
import { Inflights } from '../../src/raft/inflights.js';
import { RaftLog } from '../../src/raft/log.js';
import { Unstable } from '../../src/raft/log-unstable.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { Progress, ProgressTracker } from '../../src/raft/progress.js';
import { committedIndex, voteResult } from '../../src/raft/quorum.js';
import { ReadOnly } from '../../src/raft/read-only.js';
import type { ConfState, Entry } from '../../src/raft/types.js';
import type { LogIndex, NodeId, Term } from '../../src/util/brand.js';

const E = (index: number, term: number, n = 1): Entry => ({
  index: index as LogIndex,
  term: term as Term,
  type: 0,
  data: new Uint8Array(n),
});
const ids = (...xs: number[]): NodeId[] => xs.map((x) => x as NodeId);
const li = (n: number): LogIndex => n as LogIndex;
const tm = (n: number): Term => n as Term;

function logWith(stable: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(stable);
  const l = new RaftLog(s, Infinity);
  l.append(unstable);
  return l;
}

describe('MemoryStorage', () => {
  it('appends, overwrites a conflicting suffix, compacts and snapshots', () => {
    const s = new MemoryStorage();
    s.append([E(1, 1), E(2, 1), E(3, 1)]);
    s.append([E(3, 2), E(4, 2)]);
    expect([s.firstIndex(), s.lastIndex(), s.term(li(3))]).toEqual([1, 4, 2]);
    expect(s.createSnapshot(li(3), { voters: ids(1), learners: [] }, new Uint8Array([5]))).toBe(true);
    expect(s.createSnapshot(li(2), { voters: ids(1), learners: [] }, new Uint8Array())).toBe(false);
    expect(s.compact(li(2))).toBe(true);
    expect(s.compact(li(1))).toBe(false);
    expect([s.firstIndex(), s.term(li(2))]).toEqual([3, 1]);
    expect(s.entries(li(3), li(5), Infinity).map((e) => e.index)).toEqual([3, 4]);
    expect(s.entries(li(3), li(5), 1)).toHaveLength(1);
    expect(() => s.entries(li(2), li(4), Infinity)).toThrow();
    expect(() => s.term(li(1))).toThrow();
    s.append([E(1, 1), E(2, 1)]); // fully compacted: ignored
    expect(s.lastIndex()).toBe(4);
    expect(() => s.append([E(9, 3)])).toThrow();
    const snap = {
      meta: { index: li(10), term: tm(3), conf: { voters: ids(1, 2), learners: [] } },
      data: new Uint8Array(),
    };
    expect(s.applySnapshot(snap)).toBe(true);
    expect([s.firstIndex(), s.lastIndex(), s.initialState().conf.voters]).toEqual([11, 10, [1, 2]]);
    expect(s.applySnapshot({ ...snap, meta: { ...snap.meta, index: li(5) } })).toBe(false);
  });

  it('bootstrap puts the founding configuration in the log', () => {
    const s = MemoryStorage.bootstrap(ids(1, 2, 3));
    expect(s.lastIndex()).toBe(3);
    expect(s.initialState().hardState).toEqual({ term: 1, vote: 0, commit: 3 });
    expect(bootstrapState(ids(2)).conf).toEqual({ voters: [2], learners: [] });
  });
});

describe('Unstable', () => {
  it('truncates and appends in all three shapes', () => {
    const u = new Unstable(li(5));
    u.truncateAndAppend([E(5, 1), E(6, 1)]);
    u.truncateAndAppend([E(7, 1)]);
    expect(u.maybeLastIndex()).toBe(7);
    u.truncateAndAppend([E(6, 2)]);
    expect(u.entries.map((e) => e.term)).toEqual([1, 2]);
    u.truncateAndAppend([E(4, 3)]);
    expect([u.offset, u.entries.length]).toEqual([4, 1]);
    expect(u.maybeTerm(li(4))).toBe(3);
    expect(u.maybeTerm(li(3))).toBeUndefined();
  });

  it('stableTo ignores a term that no longer matches; restore resets to the snapshot', () => {
    const u = new Unstable(li(1));
    u.truncateAndAppend([E(1, 1), E(2, 1)]);
    u.stableTo(li(2), tm(9));
    expect(u.entries).toHaveLength(2);
    u.stableTo(li(1), tm(1));
    expect([u.offset, u.entries.length]).toEqual([2, 1]);
    const snap = {
      meta: { index: li(9), term: tm(4), conf: { voters: [], learners: [] } },
      data: new Uint8Array(),
    };
    u.restore(snap);
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(li(9))]).toEqual([10, 9, 4]);
    u.stableSnapTo(li(9));
    expect(u.snapshot).toBeUndefined();
  });
});

describe('RaftLog', () => {
  it('maybeAppend: consistency check, conflict truncation, commit bounded by last new entry', () => {
    const l = logWith([E(1, 1), E(2, 2), E(3, 2)]);
    expect(l.maybeAppend(li(3), tm(1), li(3), [])).toBeUndefined();
    expect(l.maybeAppend(li(1), tm(1), li(9), [E(2, 3)])).toBe(2);
    expect([l.lastIndex(), l.committed]).toEqual([2, 2]);
    expect(() => l.maybeAppend(li(0), tm(0), li(2), [E(1, 5)])).toThrow(); // would overwrite committed
  });

  it('findConflictByTerm skips a whole term of conflicting entries', () => {
    const l = logWith([E(1, 1), E(2, 1), E(3, 4), E(4, 4), E(5, 4)]);
    expect(l.findConflictByTerm(li(5), tm(3))).toEqual({ index: 2, term: 1 });
    expect(l.findConflictByTerm(li(5), tm(4))).toEqual({ index: 5, term: 4 });
  });

  it('only commits entries of the given term (§5.4.2) and slices across stable/unstable', () => {
    const l = logWith([E(1, 1), E(2, 1)], [E(3, 2), E(4, 2)]);
    expect(l.maybeCommit(li(2), tm(2))).toBe(false);
    expect(l.maybeCommit(li(3), tm(2))).toBe(true);
    expect(l.slice(li(1), li(5), Infinity).map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(l.slice(li(1), li(5), 20).map((e) => e.index)).toEqual([1]);
    expect(l.nextCommittedEnts().map((e) => e.index)).toEqual([1, 2, 3]);
    l.appliedTo(li(3));
    expect(l.hasNextCommittedEnts()).toBe(false);
    expect(l.isUpToDate(li(1), tm(3))).toBe(true);
    expect(l.isUpToDate(li(3), tm(2))).toBe(false);
  });
});

describe('Progress and Inflights', () => {
  it('inflights ring: add, full, freeLE, freeFirstOne', () => {
    const f = new Inflights(3);
    f.add(1);
    f.add(2);
    f.add(5);
    expect(f.full()).toBe(true);
    f.freeLE(2);
    expect(f.count).toBe(1);
    f.add(6);
    f.add(7);
    f.freeFirstOne();
    expect(f.count).toBe(2);
    f.freeLE(100);
    expect(f.count).toBe(0);
  });

  it('probe/replicate/snapshot transitions', () => {
    const p = new Progress(li(10), 2, false);
    expect(p.isPaused()).toBe(false);
    p.probeSent = true;
    expect(p.isPaused()).toBe(true);
    expect(p.maybeDecrTo(li(5), li(3))).toBe(false); // stale: next-1 != 5
    expect(p.maybeDecrTo(li(9), li(3))).toBe(true);
    expect(p.next).toBe(4);
    expect(p.maybeUpdate(li(6))).toBe(true);
    p.becomeReplicate();
    expect(p.next).toBe(7);
    p.inflights.add(7);
    p.inflights.add(8);
    expect(p.isPaused()).toBe(true);
    expect(p.maybeDecrTo(li(5), li(0))).toBe(false);
    expect(p.maybeDecrTo(li(8), li(0))).toBe(true);
    p.becomeSnapshot(li(20));
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(21);
  });

  it('tracker: committed index and quorum activity', () => {
    const t = new ProgressTracker(4);
    t.applyConf({ voters: ids(1, 2, 3), learners: ids(4) }, li(1));
    for (const [id, m] of [
      [1, 5],
      [2, 3],
      [3, 1],
      [4, 9],
    ] as const)
      (t.progress.get(id as NodeId) as Progress).match = li(m);
    expect(t.committed()).toBe(3);
    for (const p of t.progress.values()) p.recentActive = false;
    expect(t.quorumActive(1 as NodeId)).toBe(false);
    (t.progress.get(3 as NodeId) as Progress).recentActive = true;
    expect(t.quorumActive(1 as NodeId)).toBe(true);
  });
});

describe('quorum', () => {
  it('committed index is the quorum-th highest match', () => {
    const m = new Map([
      [1, 5],
      [2, 3],
      [3, 1],
      [4, 4],
      [5, 2],
    ]);
    expect(committedIndex(ids(1, 2, 3, 4, 5), (i) => m.get(i) ?? 0)).toBe(3);
    expect(committedIndex(ids(1, 2, 3, 4), (i) => m.get(i) ?? 0)).toBe(3);
    expect(committedIndex(ids(3), () => 7)).toBe(7);
    expect(committedIndex([], () => 0)).toBe(Infinity);
  });

  it('vote results', () => {
    const v = ids(1, 2, 3);
    expect(voteResult(v, new Map([[1 as NodeId, true]]))).toBe('pending');
    expect(
      voteResult(
        v,
        new Map([
          [1 as NodeId, true],
          [2 as NodeId, true],
        ]),
      ),
    ).toBe('won');
    expect(
      voteResult(
        v,
        new Map([
          [1 as NodeId, false],
          [2 as NodeId, false],
        ]),
      ),
    ).toBe('lost');
    expect(voteResult([], new Map())).toBe('won');
  });
});

describe('read-only rounds', () => {
  it('batches requests into the open round and releases by acked round', () => {
    const r = new ReadOnly();
    expect(r.add(li(5), 1 as NodeId, new Uint8Array([1]))).toEqual({ seq: 1, broadcast: true });
    expect(r.add(li(5), 2 as NodeId, new Uint8Array([2]))).toEqual({ seq: 1, broadcast: false });
    r.closeRound();
    expect(r.add(li(6), 1 as NodeId, new Uint8Array([3]))).toEqual({ seq: 2, broadcast: true });
    expect(r.release(1)).toHaveLength(2);
    expect(r.pendingCount).toBe(1);
    expect(r.release(2)).toHaveLength(1);
  });
});

describe('conf changes', () => {
  const conf: ConfState = { voters: ids(1, 2, 3), learners: ids(4) };
  it.each([
    ['addVoter', 5, true],
    ['addVoter', 2, false],
    ['addLearner', 4, false],
    ['addLearner', 6, true],
    ['promoteLearner', 4, true],
    ['promoteLearner', 2, false],
    ['removeNode', 2, true],
    ['removeNode', 9, false],
  ] as const)('%s %i valid=%s', (type, id, valid) => {
    expect(validateConfChange(conf, { type, nodeId: id as NodeId, context: new Uint8Array() }).ok).toBe(
      valid,
    );
  });

  it('applies idempotently and never removes the last voter', () => {
    const cc = (type: 'addVoter' | 'promoteLearner' | 'removeNode' | 'addLearner', n: number) => ({
      type,
      nodeId: n as NodeId,
      context: new Uint8Array(),
    });
    expect(applyToConf(conf, cc('promoteLearner', 4))).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    expect(applyToConf(conf, cc('addVoter', 1))).toEqual(conf);
    expect(applyToConf(conf, cc('addLearner', 2))).toEqual({ voters: [1, 3], learners: [2, 4] });
    const solo = { voters: ids(1), learners: [] };
    expect(applyToConf(solo, cc('removeNode', 1))).toBe(solo);
    expect(applyToConf(solo, cc('addLearner', 1))).toBe(solo);
    expect(applyToConf(conf, cc('promoteLearner', 2))).toBe(conf);
    expect(validateConfChange(solo, cc('removeNode', 1)).ok).toBe(false);
  });
});
