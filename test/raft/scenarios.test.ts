/**
 * Scenario tests: one behaviour of the paper/dissertation each, on the simulated cluster with a
 * reliable network unless the scenario needs faults. Safety checks run inside the harness.
 */
import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../src/util/brand.js';
import { SimCluster } from './sim/cluster.js';

const enc = new TextEncoder();

function elected(c: SimCluster, maxSteps = 300): number {
  for (let i = 0; i < maxSteps; i++) {
    const l = c.leader();
    if (l !== undefined) return l;
    c.step();
  }
  throw new Error('no leader elected');
}

function run(c: SimCluster, steps: number): void {
  for (let i = 0; i < steps; i++) c.step();
}

describe('leader election (§5.2)', () => {
  it('split votes resolve: at most one leader per term, and eventually one leader', () => {
    const c = new SimCluster({ seed: 7, voters: [1, 2, 3, 4], cfg: { preVote: false, checkQuorum: false } });
    c.raw(1).campaign();
    c.raw(2).campaign();
    c.stabilize();
    const l = elected(c);
    expect([1, 2, 3, 4]).toContain(l);
  });

  it.each([3, 5, 7])('a %i-member cluster elects, commits, and survives a minority crash', (size) => {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const c = new SimCluster({ seed: size, voters: ids });
    const l = elected(c);
    const minority = ids.filter((x) => x !== l).slice(0, Math.floor((size - 1) / 2));
    for (const id of minority) c.crash(id);
    const res = c.propose(l, 5);
    expect(res.ok).toBe(true);
    run(c, 20);
    for (const id of ids.filter((x) => !minority.includes(x))) {
      expect(c.node(id).sm.applied).toBeGreaterThanOrEqual(res.ok ? res.value.firstIndex + 4 : 0);
    }
    // With a majority down nothing commits.
    const more = ids.filter((x) => x !== l && !minority.includes(x)).slice(0, 1);
    for (const id of more) c.crash(id);
    const before = c.node(l).sm.applied;
    c.propose(l, 1);
    run(c, 5);
    expect(c.node(l).sm.applied).toBe(before);
  });
});

describe('partitions', () => {
  it('a stale leader in a minority partition cannot commit, and its entries are discarded on heal', () => {
    const c = new SimCluster({ seed: 3, voters: [1, 2, 3, 4, 5], cfg: { checkQuorum: false } });
    c.campaign(1);
    expect(c.leader()).toBe(1);
    c.net.partition([
      [1, 2],
      [3, 4, 5],
    ]);
    const stale = c.propose(1, 3);
    expect(stale.ok).toBe(true);
    run(c, 60);
    const newLeader = c.ids().find((id) => id >= 3 && c.raw(id).status().role === 'leader');
    expect(newLeader).toBeDefined();
    expect(c.propose(newLeader as number, 2).ok).toBe(true);
    run(c, 10);
    // The old leader still believes it leads (no CheckQuorum) but committed nothing new.
    expect(c.raw(1).status().role).toBe('leader');
    expect(c.raw(1).status().commit).toBeLessThan(stale.ok ? stale.value.firstIndex : 0);
    c.net.heal();
    run(c, 40);
    expect(c.raw(1).status().role).toBe('follower');
    for (const id of c.ids()) expect(c.node(id).sm.applied).toBe(c.node(newLeader as number).sm.applied);
    // Entries of the stale term never applied anywhere.
    const staleTerm = c.raw(1).status().term;
    expect([...c.appliedAt.values()].some((k) => k.startsWith('d0'))).toBe(false);
    expect(staleTerm).toBeGreaterThan(2);
  });

  it('Pre-Vote: a partitioned member does not inflate its term or depose the leader on rejoin', () => {
    const c = new SimCluster({ seed: 5, voters: [1, 2, 3], cfg: { preVote: true, checkQuorum: true } });
    c.campaign(1);
    const term = c.raw(1).status().term;
    c.net.isolate(3, c.ids());
    run(c, 200);
    expect(c.raw(3).status().term).toBe(term);
    c.net.heal();
    run(c, 50);
    expect(c.leader()).toBe(1);
    expect(c.raw(1).status().term).toBe(term);
  });

  it('without Pre-Vote the same partition inflates the term and disrupts the leader', () => {
    const c = new SimCluster({ seed: 5, voters: [1, 2, 3], cfg: { preVote: false, checkQuorum: false } });
    c.campaign(1);
    const term = c.raw(1).status().term;
    c.net.isolate(3, c.ids());
    run(c, 200);
    expect(c.raw(3).status().term).toBeGreaterThan(term + 3);
    c.net.heal();
    run(c, 50);
    expect(c.raw(c.leader() as number).status().term).toBeGreaterThan(term + 3);
  });

  it('CheckQuorum: a leader that hears no majority for an election timeout steps down', () => {
    const c = new SimCluster({ seed: 9, voters: [1, 2, 3], cfg: { checkQuorum: true } });
    c.campaign(1);
    c.net.isolate(1, c.ids());
    run(c, 25);
    expect(c.raw(1).status().role).not.toBe('leader');
  });

  it('leader lease: followers ignore vote requests while they hear from a leader', () => {
    const c = new SimCluster({ seed: 9, voters: [1, 2, 3], cfg: { checkQuorum: true, preVote: false } });
    c.campaign(1);
    const term = c.raw(1).status().term;
    // Node 3 cannot hear the leader, but 2 can; 3's vote requests must not depose 1.
    c.net.cut(1, 3);
    run(c, 100);
    expect(c.leader()).toBe(1);
    expect(c.raw(2).status().term).toBe(term);
  });
});

describe('log replication', () => {
  it('proposal on a follower is refused with the leader hint', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3] });
    c.campaign(2);
    const res = c.propose(3);
    expect(res).toEqual({ ok: false, error: { type: 'notLeader', leader: 2 } });
    const fresh = new SimCluster({ seed: 1, voters: [1, 2, 3] });
    expect(fresh.propose(1)).toEqual({ ok: false, error: { type: 'notLeader', leader: 0 } });
  });

  it('batching and pipelining: a big batch is split by maxSizePerMsg and streamed', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3], cfg: { maxSizePerMsg: 100, maxInflightMsgs: 3 } });
    c.campaign(1);
    c.propose(1, 50);
    c.handleAll();
    const st = c
      .raw(1)
      .status()
      .progress?.get(2 as NodeId);
    expect(st?.state).toBe('replicate');
    c.stabilize();
    for (const id of [1, 2, 3]) expect(c.node(id).sm.applied).toBe(c.raw(1).status().lastIndex);
  });

  it('a far-behind follower is caught up by snapshot (also when the image is later than planned)', () => {
    for (const later of [0, 1]) {
      const c = new SimCluster({ seed: 11, voters: [1, 2, 3], snapshotEvery: 10, laterSnapshot: later });
      c.campaign(1);
      c.crash(3);
      for (let i = 0; i < 30; i++) {
        c.propose(1, 2);
        c.stabilize();
      }
      expect(c.node(1).storage.firstIndex()).toBeGreaterThan(5);
      c.restart(3);
      run(c, 40);
      expect(c.log.some((l) => l.includes('node 3 installed snapshot'))).toBe(true);
      expect(c.node(3).sm.applied).toBe(c.node(1).sm.applied);
      expect(
        c
          .raw(1)
          .status()
          .progress?.get(3 as NodeId)?.state,
      ).toBe('replicate');
    }
  });
});

describe('leadership transfer (§3.10)', () => {
  it('hands leadership to an up-to-date target', () => {
    const c = new SimCluster({ seed: 2, voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 3);
    c.stabilize();
    c.raw(1).transferLeadership(2 as NodeId);
    c.stabilize();
    expect(c.leader()).toBe(2);
  });

  it('refuses proposals while transferring and aborts after an election timeout', () => {
    const c = new SimCluster({ seed: 2, voters: [1, 2, 3] });
    c.campaign(1);
    c.crash(2);
    c.raw(1).transferLeadership(2 as NodeId);
    expect(c.propose(1)).toEqual({ ok: false, error: { type: 'transferring', leader: 1 } });
    run(c, 12);
    expect(c.leader()).toBe(1);
    expect(c.propose(1).ok).toBe(true);
  });
});

describe('membership changes (§4.1, one server at a time)', () => {
  it('adds a learner, which replicates but does not vote, then promotes it', () => {
    const c = new SimCluster({ seed: 4, voters: [1, 2, 3] });
    c.campaign(1);
    c.addFreshNode(4);
    expect(c.proposeConfChange(1, { type: 'addLearner', nodeId: 4 as NodeId }).ok).toBe(true);
    c.stabilize();
    c.propose(1, 3);
    c.stabilize();
    expect(c.node(4).sm.applied).toBe(c.node(1).sm.applied);
    expect(c.raw(4).status().conf.learners).toEqual([4]);
    // A learner never campaigns.
    for (let i = 0; i < 50; i++) c.raw(4).tick();
    expect(c.raw(4).status().role).toBe('follower');
    expect(c.proposeConfChange(1, { type: 'promoteLearner', nodeId: 4 as NodeId }).ok).toBe(true);
    c.stabilize();
    expect(c.raw(1).status().conf.voters).toEqual([1, 2, 3, 4]);
    expect(c.raw(4).status().conf.voters).toEqual([1, 2, 3, 4]);
  });

  it('refuses a second change while one is unapplied, and before committing in its term', () => {
    const c = new SimCluster({ seed: 4, voters: [1, 2, 3] });
    c.campaign(1);
    expect(c.proposeConfChange(1, { type: 'addLearner', nodeId: 4 as NodeId }).ok).toBe(true);
    expect(c.proposeConfChange(1, { type: 'addLearner', nodeId: 5 as NodeId })).toEqual({
      ok: false,
      error: { type: 'confChangePending' },
    });
    c.stabilize();
    // New leader (node 2) before its no-op commits: refused.
    c.raw(2).campaign();
    c.handleAll();
    c.deliver(c.net.takeAll());
    c.handleAll();
    c.deliver(c.net.takeAll());
    if (c.raw(2).status().role === 'leader') {
      expect(c.proposeConfChange(2, { type: 'addLearner', nodeId: 5 as NodeId })).toEqual({
        ok: false,
        error: { type: 'confChangePending' },
      });
    }
    c.stabilize();
    expect(
      c.proposeConfChange(c.leader() as number, { type: 'addVoter', nodeId: 3 as NodeId }),
    ).toMatchObject({
      ok: false,
      error: { type: 'invalidConfChange' },
    });
  });

  it('a removed leader steps down after applying its removal; the rest elect a new leader', () => {
    const c = new SimCluster({ seed: 8, voters: [1, 2, 3, 4] });
    c.campaign(1);
    expect(c.proposeConfChange(1, { type: 'removeNode', nodeId: 1 as NodeId }).ok).toBe(true);
    c.stabilize();
    expect(c.node(1).removed).toBe(true);
    const l = elected(c);
    expect([2, 3, 4]).toContain(l);
    expect(c.raw(l).status().conf.voters).toEqual([2, 3, 4]);
    expect(c.propose(l, 2).ok).toBe(true);
    run(c, 10);
  });

  it('add, promote and remove under message loss and a crash', () => {
    const c = new SimCluster({ seed: 21, voters: [1, 2, 3], net: { drop: 0.1, dup: 0.05, maxDelay: 3 } });
    const steps: { type: 'addLearner' | 'promoteLearner' | 'removeNode' | 'addVoter'; nodeId: number }[] = [
      { type: 'addLearner', nodeId: 4 },
      { type: 'promoteLearner', nodeId: 4 },
      { type: 'addVoter', nodeId: 5 },
      { type: 'removeNode', nodeId: 2 },
    ];
    for (const s of steps) {
      if (s.type === 'addLearner' || s.type === 'addVoter') c.addFreshNode(s.nodeId);
      let done = false;
      for (let i = 0; i < 500 && !done; i++) {
        c.step();
        if (i === 100) c.crash(3);
        if (i === 150) c.restart(3);
        const l = c.leader();
        if (l === undefined) continue;
        const conf = c.raw(l).status().conf;
        const has =
          s.type === 'removeNode'
            ? !conf.voters.includes(s.nodeId as NodeId)
            : s.type === 'addLearner'
              ? conf.learners.includes(s.nodeId as NodeId)
              : conf.voters.includes(s.nodeId as NodeId);
        if (has) done = true;
        else if (i % 20 === 0) c.proposeConfChange(l, { type: s.type, nodeId: s.nodeId as NodeId });
      }
      expect(done).toBe(true);
    }
    const l = elected(c);
    expect(c.raw(l).status().conf.voters).toEqual([1, 3, 4, 5]);
  });
});

describe('linearizable reads (§6.4 ReadIndex)', () => {
  it('serves a read on the leader after a heartbeat round, batching concurrent reads', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3] });
    c.campaign(1);
    c.propose(1, 2);
    c.stabilize();
    expect(c.readIndex(1).ok).toBe(true);
    expect(c.readIndex(1).ok).toBe(true);
    c.handleAll();
    expect(c.node(1).reads.length).toBe(2);
    c.stabilize();
    expect(c.node(1).reads.length).toBe(0);
    expect(c.node(1).servedReads).toBe(2);
  });

  it('forwards a follower read to the leader', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3] });
    c.campaign(1);
    c.stabilize();
    expect(c.readIndex(2).ok).toBe(true);
    c.stabilize();
    expect(c.node(2).servedReads).toBe(1);
  });

  it('a deposed leader never serves a read', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3], cfg: { checkQuorum: false } });
    c.campaign(1);
    c.stabilize();
    c.net.isolate(1, c.ids());
    run(c, 50);
    const l = c.leader();
    expect(l).not.toBe(1);
    c.propose(2, 1);
    c.propose(3, 1);
    run(c, 10);
    expect(c.raw(1).status().role).toBe('leader'); // still believes it leads
    expect(c.readIndex(1).ok).toBe(true);
    run(c, 50);
    expect(c.node(1).servedReads).toBe(0);
  });

  it('single voter answers at once; lease-based reads answer without a round', () => {
    const solo = new SimCluster({ seed: 1, voters: [1] });
    solo.campaign(1);
    solo.readIndex(1);
    solo.handleAll();
    expect(solo.node(1).servedReads).toBe(1);
    const lease = new SimCluster({ seed: 1, voters: [1, 2, 3], cfg: { readOnlyOption: 'leaseBased' } });
    lease.campaign(1);
    lease.readIndex(1);
    lease.handleAll();
    expect(lease.node(1).servedReads).toBe(1);
  });

  it('a read on a follower without a known leader is refused', () => {
    const c = new SimCluster({ seed: 1, voters: [1, 2, 3] });
    expect(c.raw(2).readIndex(enc.encode('x'))).toEqual({
      ok: false,
      error: { type: 'notLeader', leader: 0 },
    });
  });
});
