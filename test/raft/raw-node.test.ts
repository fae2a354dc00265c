/** RawNode driven message by message: paper rules that need precise control. */
import { describe, expect, it } from 'vitest';
import { describeReady } from '../../src/raft/describe.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { Message } from '../../src/raft/messages.js';
import { RawNode } from '../../src/raft/raw-node.js';
import type { RaftConfig, Ready } from '../../src/raft/raw-node.js';
import type { Entry } from '../../src/raft/types.js';
import type { LogIndex, NodeId, Term } from '../../src/util/brand.js';
import { seededRng } from '../../src/util/rng.js';

const n = (x: number): NodeId => x as NodeId;
const li = (x: number): LogIndex => x as LogIndex;
const tm = (x: number): Term => x as Term;
const E = (index: number, term: number): Entry => ({
  index: li(index),
  term: tm(term),
  type: 0,
  data: new Uint8Array([index]),
});

function node(
  id: number,
  voters: number[],
  opts: Partial<RaftConfig> = {},
  ents: Entry[] = [],
  term = 0,
  commit = 0,
): { raw: RawNode; st: MemoryStorage } {
  const st = new MemoryStorage({ voters: voters.map(n), learners: [] });
  st.append(ents);
  st.setHardState({ term: tm(term), vote: n(0), commit: li(commit) });
  return { raw: start(id, st, opts), st };
}

/** A RawNode for member `id` over `st` (a restart when `st` already holds state). */
function start(id: number, st: MemoryStorage, opts: Partial<RaftConfig> = {}): RawNode {
  const cfg: RaftConfig = {
    id: n(id),
    electionTick: 10,
    heartbeatTick: 1,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 8,
    preVote: false,
    checkQuorum: false,
    ...opts,
  };
  return new RawNode(cfg, st, seededRng(id));
}

/** Handles one Ready like a server would (persist into storage, return messages). */
function drain(raw: RawNode, st: MemoryStorage): { msgs: Message[]; rds: Ready[] } {
  const msgs: Message[] = [];
  const rds: Ready[] = [];
  while (raw.hasReady()) {
    const rd = raw.ready();
    rds.push(rd);
    if (rd.snapshot) st.applySnapshot(rd.snapshot);
    st.append(rd.entries);
    if (rd.hardState) st.setHardState(rd.hardState);
    msgs.push(...rd.messages);
    raw.advance(rd);
  }
  return { msgs, rds };
}

function makeLeader(raw: RawNode, st: MemoryStorage, voters: number[]): Message[] {
  raw.campaign();
  const { msgs } = drain(raw, st);
  const term = raw.status().term;
  for (const v of voters)
    if (v !== raw.status().id)
      raw.step({ type: 'voteResp', from: n(v), to: raw.status().id, term, reject: false });
  expect(raw.status().role).toBe('leader');
  return [...msgs, ...drain(raw, st).msgs];
}

/** A leader of {1,2,3} whose followers both hold its no-op: replicating, nothing in flight. */
function replicatingLeader(): {
  l: RawNode;
  ls: MemoryStorage;
  start: LogIndex;
  ack: (from: number, index: LogIndex) => void;
} {
  const { raw: l, st: ls } = node(1, [1, 2, 3], {}, [], 0);
  makeLeader(l, ls, [1, 2, 3]);
  const term = l.status().term;
  const start = l.status().lastIndex;
  const ack = (from: number, index: LogIndex): void => {
    const m = { type: 'appResp', from: n(from), to: n(1), term, index, reject: false } as const;
    expect(l.step({ ...m, rejectHint: index, logTerm: tm(0) }).ok).toBe(true);
  };
  ack(2, start);
  ack(3, start);
  drain(l, ls);
  return { l, ls, start, ack };
}

describe('RawNode', () => {
  it('a commit goes to followers sent every entry as a commit-only append, unanswered', () => {
    const { l, ls, start, ack } = replicatingLeader();
    expect(l.propose([new Uint8Array([9])]).ok).toBe(true);
    const sent = drain(l, ls).msgs.filter((m) => m.type === 'app');
    expect(sent.map((m) => [m.to, m.entries.length, m.commitOnly])).toEqual([
      [2, 1, false],
      [3, 1, false],
    ]);
    // Follower 2 confirms the new entry and it commits. 3 has not confirmed it yet, but its answer
    // to the append that carried it is on the way: neither needs to answer the commit.
    ack(2, li(start + 1));
    const commits = drain(l, ls).msgs.filter((m) => m.type === 'app');
    expect(commits.map((m) => [m.to, m.entries.length, m.commit, m.commitOnly])).toEqual([
      [2, 0, start + 1, true],
      [3, 0, start + 1, true],
    ]);

    // The follower takes the commit from it and sends nothing back; without the flag it answers.
    const term = l.status().term;
    // Follower 2 holding the leader's entries up to `last`.
    const follower = (last: number): { raw: RawNode; st: MemoryStorage } =>
      node(2, [1, 2, 3], {}, [...ls.entries(li(1), li(last + 1), Infinity)], term);
    for (const commitOnly of [true, false]) {
      const { raw: f, st: fs } = follower(start + 1);
      const m = commits.find((x) => x.to === 2)!;
      expect(f.step({ ...m, commitOnly }).ok).toBe(true);
      const out = drain(f, fs);
      expect(f.status().commit).toBe(start + 1);
      expect(out.msgs.filter((x) => x.type === 'appResp')).toHaveLength(commitOnly ? 0 : 1);
    }
    // One that lacks the entries (their append was lost) rejects it, and the rejection is answered.
    const { raw: lacking, st: ls2 } = follower(start);
    expect(lacking.step(commits.find((x) => x.to === 2)!).ok).toBe(true);
    const answers = drain(lacking, ls2).msgs.filter((x) => x.type === 'appResp');
    expect(answers.map((x) => x.type === 'appResp' && x.reject)).toEqual([true]);

    // 3's answer to the entry's append is lost: a heartbeat answer shows the leader 3's stale
    // match, and the append it sends then is a plain one, answered (else a commit that needed 3
    // would wait for the next write).
    expect(l.step({ type: 'heartbeatResp', from: n(3), to: n(1), term, readSeq: 0 }).ok).toBe(true);
    const resend = drain(l, ls).msgs.filter((m) => m.type === 'app' && m.to === 3);
    expect(resend.map((m) => m.type === 'app' && [m.entries.length, m.commitOnly])).toEqual([[0, false]]);
    ack(3, li(start + 1));
    expect(l.status().progress?.get(n(3))?.match).toBe(start + 1);
  });

  it('a rejected commit-only append sends the leader back to probing, with the entries', () => {
    const { l, ls, start, ack } = replicatingLeader();
    expect(l.propose([new Uint8Array([9])]).ok).toBe(true);
    drain(l, ls);
    ack(2, li(start + 1));
    const toThree = drain(l, ls).msgs.find((m) => m.type === 'app' && m.to === 3);
    expect(toThree?.type === 'app' && toThree.commitOnly).toBe(true);
    // 3 never got the entry's append: it rejects the commit-only one.
    const term = l.status().term;
    const reject = { type: 'appResp', from: n(3), to: n(1), term, index: li(start + 1) } as const;
    expect(l.step({ ...reject, reject: true, rejectHint: li(start), logTerm: term }).ok).toBe(true);
    const resent = drain(l, ls).msgs.filter((m) => m.type === 'app' && m.to === 3);
    expect(resent.map((m) => m.type === 'app' && [m.index, m.entries.length, m.commitOnly])).toEqual([
      [start, 1, false],
    ]);
    expect(l.status().progress?.get(n(3))?.state).toBe('probe');
  });

  it('a follower being probed gets its commit in a plain append, which it answers', () => {
    // Five voters: the leader and follower 2 are not a quorum, so 2 is probed before the commit.
    const { raw: l, st: ls } = node(1, [1, 2, 3, 4, 5], {}, [], 0);
    makeLeader(l, ls, [1, 2, 3, 4, 5]);
    const term = l.status().term;
    const ack = (from: number, index: number): void => {
      const m = { type: 'appResp', from: n(from), to: n(1), term, index: li(index), reject: false } as const;
      expect(l.step({ ...m, rejectHint: li(index), logTerm: tm(0) }).ok).toBe(true);
    };
    const last = l.status().lastIndex;
    ack(2, last);
    drain(l, ls);
    // Its stream broke: 2 holds everything but is probed now.
    l.reportUnreachable(n(2));
    ack(3, last);
    const commits = drain(l, ls).msgs.filter((m) => m.type === 'app');
    expect(l.status().commit).toBe(last);
    expect(commits.map((m) => [m.to, m.entries.length, m.commitOnly])).toContainEqual([2, 0, false]);
    expect(commits.map((m) => [m.to, m.entries.length, m.commitOnly])).toContainEqual([3, 0, true]);
  });

  it('Figure 8 / §5.4.2: replicas of an old-term entry do not commit it; the current-term entry does', () => {
    // Log: entries 1..2 of term 1, 3 of term 2 (uncommitted). We become leader of term 3.
    const { raw, st } = node(1, [1, 2, 3], {}, [E(1, 1), E(2, 1), E(3, 2)], 2);
    makeLeader(raw, st, [1, 2, 3]);
    const term = raw.status().term;
    expect(term).toBe(3);
    // A majority now holds index 3 (term 2): still not committed.
    raw.step({
      type: 'appResp',
      from: n(2),
      to: n(1),
      term: tm(3),
      index: li(3),
      reject: false,
      rejectHint: li(0),
      logTerm: tm(0),
    });
    expect(raw.status().commit).toBe(0);
    // The no-op at index 4 (term 3) reaches a majority: 4 and everything before it commit.
    raw.step({
      type: 'appResp',
      from: n(2),
      to: n(1),
      term: tm(3),
      index: li(4),
      reject: false,
      rejectHint: li(0),
      logTerm: tm(0),
    });
    expect(raw.status().commit).toBe(4);
  });

  it('fast backtracking: a rejection hint skips a whole conflicting term', () => {
    const { raw, st } = node(1, [1, 2], {}, [E(1, 1), E(2, 3), E(3, 3), E(4, 3)], 3);
    makeLeader(raw, st, [1, 2]);
    // Follower has term-2 entries from 2 onward: it hints (index 4, term 2).
    raw.step({
      type: 'appResp',
      from: n(2),
      to: n(1),
      term: tm(4),
      index: li(5),
      reject: false,
      rejectHint: li(0),
      logTerm: tm(0),
    });
    const { raw: r2, st: s2 } = node(
      2,
      [1, 2],
      {},
      [E(1, 1), E(2, 2), E(3, 2), E(4, 2), E(5, 2), E(6, 2)],
      3,
    );
    r2.step({
      type: 'app',
      from: n(1),
      to: n(2),
      term: tm(4),
      index: li(5),
      logTerm: tm(4),
      commit: li(0),
      commitOnly: false,
      entries: [],
    });
    const resp = drain(r2, s2).msgs.find((m) => m.type === 'appResp');
    expect(resp).toMatchObject({ reject: true, index: 5, rejectHint: 5, logTerm: 2 });
  });

  it('accepts an append response beyond the planned snapshot and resumes replication', () => {
    const { raw, st } = node(1, [1, 2], {}, [E(1, 1), E(2, 1), E(3, 1), E(4, 1), E(5, 1)], 1);
    st.createSnapshot(li(3), { voters: [n(1), n(2)], learners: [] }, new Uint8Array());
    st.compact(li(3));
    makeLeader(raw, st, [1, 2]);
    // Follower says it has nothing: leader backs off to 0 and must send a snapshot.
    raw.step({
      type: 'appResp',
      from: n(2),
      to: n(1),
      term: tm(2),
      index: li(5),
      reject: true,
      rejectHint: li(0),
      logTerm: tm(0),
    });
    const { msgs } = drain(raw, st);
    expect(msgs.some((m) => m.type === 'snap' && m.snapshot.meta.index === 3)).toBe(true);
    expect(raw.status().progress?.get(n(2))?.state).toBe('snapshot');
    // The transport streamed a newer image (index 5); the follower acks 6 (it also got the no-op).
    raw.step({
      type: 'appResp',
      from: n(2),
      to: n(1),
      term: tm(2),
      index: li(6),
      reject: false,
      rejectHint: li(0),
      logTerm: tm(0),
    });
    expect(raw.status().progress?.get(n(2))).toMatchObject({ state: 'replicate', match: 6, next: 7 });
    raw.reportSnapshot(n(2), true); // late report: ignored, not in snapshot state any more
    expect(raw.status().progress?.get(n(2))?.state).toBe('replicate');
    raw.reportUnreachable(n(2));
    expect(raw.status().progress?.get(n(2))?.state).toBe('probe');
  });

  it('a follower installs a snapshot newer than its commit and reports it in Ready', () => {
    const { raw, st } = node(2, [1, 2], {}, [E(1, 1)], 1);
    raw.step({
      type: 'snap',
      from: n(1),
      to: n(2),
      term: tm(2),
      snapshot: {
        meta: { index: li(10), term: tm(2), conf: { voters: [n(1), n(2), n(3)], learners: [] } },
        data: new Uint8Array(),
      },
    });
    const { rds, msgs } = drain(raw, st);
    expect(rds[0]?.snapshot?.meta.index).toBe(10);
    expect(msgs[0]).toMatchObject({ type: 'appResp', index: 10, reject: false });
    expect(raw.status()).toMatchObject({ commit: 10, applied: 10, conf: { voters: [1, 2, 3] } });
    // An older snapshot is answered with our commit index and ignored.
    raw.step({
      type: 'snap',
      from: n(1),
      to: n(2),
      term: tm(2),
      snapshot: {
        meta: { index: li(5), term: tm(1), conf: { voters: [], learners: [] } },
        data: new Uint8Array(),
      },
    });
    expect(drain(raw, st).msgs[0]).toMatchObject({ type: 'appResp', index: 10 });
  });

  it('answers a stale leader so it learns the newer term; drops misrouted and unknown peers', () => {
    const { raw, st } = node(2, [1, 2, 3], { checkQuorum: true }, [], 5);
    raw.step({ type: 'heartbeat', from: n(1), to: n(2), term: tm(3), commit: li(0), readSeq: 0 });
    expect(drain(raw, st).msgs[0]).toMatchObject({ type: 'appResp', term: 5 });
    expect(raw.step({ type: 'timeoutNow', from: n(1), to: n(9), term: tm(5) })).toEqual({
      ok: false,
      error: { type: 'misrouted' },
    });
    const { raw: l, st: ls } = node(1, [1, 2], {}, [], 0);
    makeLeader(l, ls, [1, 2]);
    expect(
      l.step({ type: 'heartbeatResp', from: n(7), to: n(1), term: l.status().term, readSeq: 0 }).ok,
    ).toBe(false);
  });

  it('refuses proposals over maxUncommittedEntriesSize, accepting one batch when empty', () => {
    const { raw, st } = node(1, [1, 2], { maxUncommittedEntriesSize: 10 }, [], 0);
    makeLeader(raw, st, [1, 2]);
    expect(raw.propose([new Uint8Array(20)]).ok).toBe(true);
    expect(raw.propose([new Uint8Array(1)])).toEqual({ ok: false, error: { type: 'tooLarge' } });
  });

  it('one outstanding Ready at a time; describeReady renders deterministically', () => {
    const { raw, st } = node(1, [1], {}, [], 0);
    raw.campaign();
    const rd = raw.ready();
    expect(raw.hasReady()).toBe(false);
    expect(() => raw.ready()).toThrow();
    // The leader's own entry counts toward the quorum only once advance() reports it durable.
    expect(describeReady(rd)).toBe(
      'soft{lead=1 leader} hard{term=1 vote=1 commit=0} entries=[1/1 noop] sync',
    );
    st.append(rd.entries);
    raw.advance(rd);
    expect(() => raw.advance(rd)).toThrow();
    expect(raw.status().commit).toBe(1);
    const rd2 = raw.ready();
    expect(describeReady(rd2)).toBe('hard{term=1 vote=1 commit=1} committed=[1/1 noop]');
    raw.advance(rd2);
    expect(raw.status().applied).toBe(1);
    const r = raw.propose([new Uint8Array(3), new Uint8Array(4)]);
    expect(r).toEqual({ ok: true, value: { term: 1, firstIndex: 2 } });
    const rds = drain(raw, st).rds;
    expect(rds.map(describeReady)).toEqual([
      'entries=[1/2 3B, 1/3 4B] sync',
      'hard{term=1 vote=1 commit=3} committed=[1/2 3B, 1/3 4B]',
    ]);
  });

  it('a leader sends its appends before persisting, and commits only what a quorum holds durably', () => {
    const { l, ls, start, ack } = replicatingLeader();
    expect(l.status().commit).toBe(start);
    expect(l.propose([new Uint8Array(5)]).ok).toBe(true);
    const rd = l.ready();
    expect(rd.sendBeforePersist).toBe(true);
    expect(rd.messages.filter((m) => m.type === 'app').map((m) => m.to)).toEqual([2, 3]);
    // A follower acknowledges before the leader's own fsync completes: one durable copy of
    // three is no quorum, so nothing commits yet.
    const idx = li(start + 1);
    ack(2, idx);
    expect(l.status().commit).toBe(start);
    ls.append(rd.entries);
    l.advance(rd);
    expect(l.status().commit).toBe(idx);
  });

  it('while a leader persists: a quorum of followers commits, entries apply and appends go out', () => {
    const { l, ls, start, ack } = replicatingLeader();
    expect(l.propose([new Uint8Array(5)]).ok).toBe(true);
    const rd = l.ready();
    expect(l.readyWhilePersisting()).toBeUndefined(); // nothing new yet
    const idx = li(start + 1);
    ack(2, idx);
    ack(3, idx); // two durable copies of three: committed although the leader's fsync is pending
    expect(l.status().commit).toBe(idx);
    // A proposal made meanwhile replicates at once; the commit reaches the followers too.
    expect(l.propose([new Uint8Array(6)]).ok).toBe(true);
    const early = l.readyWhilePersisting();
    expect(early?.committedEntries.map((e) => e.index)).toEqual([idx]);
    const apps = (early?.messages ?? []).filter((m) => m.type === 'app');
    expect([...new Set(apps.map((m) => m.to))].sort()).toEqual([2, 3]); // the commit, the new entry
    expect(apps.some((m) => m.type === 'app' && m.entries.some((e) => e.index === idx + 1))).toBe(true);
    l.appliedTo(idx);
    expect(l.status().applied).toBe(idx);
    expect(l.readyWhilePersisting()).toBeUndefined(); // handed out once
    ls.append(rd.entries);
    l.advance(rd);
    // The next Ready persists the proposal made meanwhile and does not apply idx again.
    const next = l.ready();
    expect(next.entries.map((e) => e.index)).toEqual([idx + 1]);
    expect(next.committedEntries).toEqual([]);
  });

  it('while a follower persists: commits apply only up to the entries being written; acks wait', () => {
    const { raw: f, st: fs } = node(2, [1, 2, 3], {}, [], 0);
    const app = (index: number, logTerm: number, entries: Entry[], commit: number): void => {
      const m: Message = {
        type: 'app',
        from: n(1),
        to: n(2),
        term: tm(1),
        index: li(index),
        logTerm: tm(logTerm),
        entries,
        commit: li(commit),
        commitOnly: false,
      };
      expect(f.step(m).ok).toBe(true);
    };
    app(0, 0, [E(1, 1), E(2, 1)], 0);
    const rd = f.ready(); // persisting entries 1..2
    expect(rd.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(rd.messages.some((m) => m.type === 'appResp')).toBe(true);
    // The leader commits 3 and sends it along with entry 3, which is not being written yet.
    app(2, 1, [E(3, 1)], 3);
    const early = f.readyWhilePersisting();
    expect(early?.committedEntries.map((e) => e.index)).toEqual([1, 2]);
    expect(early?.messages).toEqual([]); // the ack of entry 3 promises a write not yet made
    fs.append(rd.entries);
    if (rd.hardState) fs.setHardState(rd.hardState);
    f.advance(rd);
    const next = f.ready();
    expect(next.entries.map((e) => e.index)).toEqual([3]);
    expect(next.committedEntries.map((e) => e.index)).toEqual([3]);
    expect(
      next.messages.filter((m) => m.type === 'appResp').map((m) => m.type === 'appResp' && m.index),
    ).toEqual([3]);
  });

  it('restarts with a stored commit below the applied index (its hard state was still being written)', () => {
    const { raw } = node(1, [1, 2, 3], { applied: li(3) }, [E(1, 1), E(2, 1), E(3, 1), E(4, 1)], 1, 2);
    expect(raw.status().commit).toBe(3);
    expect(raw.status().applied).toBe(3);
    expect(raw.hasReady()).toBe(true);
    expect(raw.ready().hardState?.commit).toBe(3);
  });

  it('restarts with a stored commit below its snapshot (compacted while that hard state was in flight)', () => {
    const { st } = node(1, [1, 2, 3], {}, [E(1, 1), E(2, 1), E(3, 1), E(4, 1)], 1, 1);
    st.createSnapshot(li(3), { voters: [n(1), n(2), n(3)], learners: [] }, new Uint8Array(0));
    st.compact(li(3));
    const raw = start(1, st, { applied: li(3) });
    expect(raw.status().commit).toBe(3);
    expect(raw.status().lastIndex).toBe(4);
  });
});
