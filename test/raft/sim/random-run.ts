/**
 * One randomized run: a seeded schedule of client requests and faults (crashes, restarts, drops,
 * duplicates, reordering, symmetric and one-way partitions, membership changes, transfers) with
 * every safety property checked after each step, then a liveness phase: once faults heal a leader
 * must be elected and a proposal must commit everywhere within a bounded number of ticks.
 */
import type { NodeId } from '../../../src/util/brand.js';
import { seededRng } from '../../../src/util/rng.js';
import { SimCluster } from './cluster.js';

export interface RunResult {
  steps: number;
  leaders: number;
  maxApplied: number;
  reads: number;
  livenessTicks: number;
}

/** Ticks allowed after healing for a leader to emerge and a write to commit everywhere. */
export const LIVENESS_BOUND = 400;

export function randomRun(seed: number, steps: number): RunResult {
  const rng = seededRng(seed);
  const size = [3, 3, 3, 5, 5, 7][rng.int(6)] as number;
  const voters = Array.from({ length: size }, (_, i) => i + 1);
  const safeFlags = rng.float() < 0.8;
  const membership = safeFlags && rng.float() < 0.5;
  const c = new SimCluster({
    seed,
    voters,
    cfg: {
      preVote: safeFlags || rng.float() < 0.5,
      checkQuorum: safeFlags || rng.float() < 0.5,
      maxSizePerMsg: [64, 256, 4096][rng.int(3)] as number,
      maxInflightMsgs: 1 + rng.int(4),
    },
    net: { drop: rng.float() * 0.1, dup: rng.float() * 0.05, maxDelay: 1 + rng.int(3) },
    snapshotEvery: rng.float() < 0.6 ? 5 + rng.int(20) : 0,
    snapshotKeep: rng.int(4),
    laterSnapshot: 0.5,
  });
  const faultRate = 0.02 + rng.float() * 0.04;
  let nextId = size + 1;

  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[rng.int(xs.length)]);
  const where = (): string => `seed ${seed} at t=${c.now}`;
  try {
    for (let s = 0; s < steps; s++) {
      c.step(0.97);
      const r = rng.float();
      const members = c.ids().filter((id) => !c.node(id).removed);
      if (r < faultRate) {
        const kind = rng.int(6);
        const victim = pick(members) as number;
        if (kind === 0) {
          if (c.node(victim).alive) c.crash(victim);
        } else if (kind === 1) {
          for (const id of members) if (!c.node(id).alive && rng.float() < 0.7) c.restart(id);
        } else if (kind === 2) c.net.isolate(victim, c.ids());
        else if (kind === 3) {
          const a = members.filter(() => rng.float() < 0.5);
          c.net.partition([a, c.ids().filter((x) => !a.includes(x))]);
        } else if (kind === 4) c.net.cut(victim, pick(members) as number);
        else c.net.heal();
      }
      const lead = c.leader();
      // Client traffic: writes (batched) on a random member; a non-leader refuses with a hint.
      if (rng.float() < 0.3) {
        const target = pick(c.live().map((n) => n.id));
        if (target !== undefined) {
          const res = c.propose(target, 1 + rng.int(3));
          if (!res.ok && res.error.type === 'notLeader' && res.error.leader !== 0) {
            const hinted = c.nodes.get(res.error.leader);
            if (hinted?.alive === true) c.propose(hinted.id, 1);
          }
        }
      }
      if (rng.float() < 0.05) {
        const target = pick(c.live().map((n) => n.id));
        if (target !== undefined) c.readIndex(target);
      }
      if (lead !== undefined && rng.float() < 0.01) {
        c.raw(lead).transferLeadership(pick(voters) as NodeId);
      }
      if (membership && lead !== undefined && rng.float() < 0.02) {
        const conf = c.raw(lead).status().conf;
        const k = rng.int(4);
        if (k === 0 && nextId <= 9) {
          const id = nextId++;
          c.addFreshNode(id);
          c.proposeConfChange(lead, {
            type: rng.float() < 0.5 ? 'addLearner' : 'addVoter',
            nodeId: id as NodeId,
          });
        } else if (k === 1 && conf.learners.length > 0) {
          c.proposeConfChange(lead, { type: 'promoteLearner', nodeId: pick(conf.learners) as NodeId });
        } else if (k === 2 && conf.voters.length > 3) {
          c.proposeConfChange(lead, { type: 'removeNode', nodeId: pick(conf.voters) as NodeId });
        } else if (k === 3 && conf.learners.length > 0) {
          c.proposeConfChange(lead, { type: 'removeNode', nodeId: pick(conf.learners) as NodeId });
        }
      }
    }
    // ---- liveness: heal everything, restart every member, and require progress.
    c.net.heal();
    c.net.opts = { drop: 0, dup: 0, maxDelay: 1 + rng.int(2) };
    for (const id of c.ids()) c.restart(id);
    const start = c.now;
    let marker: { index: number; term: number } | undefined;
    while (c.now - start < LIVENESS_BOUND) {
      c.step();
      const lead = c.leader();
      if (lead === undefined) continue;
      const term = c.raw(lead).status().term;
      if (marker === undefined || marker.term !== term) {
        // A write proposed to an earlier leader may be lost (never acknowledged): propose again.
        const res = c.propose(lead, 1);
        if (res.ok) marker = { index: res.value.firstIndex, term };
        continue;
      }
      const conf = c.raw(lead).status().conf;
      const members = [...conf.voters, ...conf.learners];
      if (members.every((id) => (c.nodes.get(id)?.sm.applied ?? 0) >= (marker as { index: number }).index)) {
        // Nothing acknowledged was lost: every acked write is in the final history at its index.
        for (const [, idx] of c.acked)
          if (idx > c.node(lead).sm.applied) throw new Error(`acked ${idx} lost`);
        return {
          steps,
          leaders: c.leaderOf.size,
          maxApplied: c.maxApplied,
          reads: c.live().reduce((a, n) => a + n.servedReads, 0),
          livenessTicks: c.now - start,
        };
      }
    }
    throw new Error(`liveness: no committed write within ${LIVENESS_BOUND} ticks after healing`);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const tail = c.log.slice(-15).join('\n  ');
    throw new Error(
      `${where()}: ${msg}\n  replay: SEED=${seed} npx vitest run test/raft/sim\n  recent events:\n  ${tail}`,
      { cause: e },
    );
  }
}
