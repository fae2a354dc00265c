/**
 * The leader's view of each follower (etcd-io/raft tracker/progress.go + tracker.go).
 *
 * probe:     we do not know where the follower's log matches; send one append per heartbeat
 *            interval and back off on rejection (§5.3).
 * replicate: the follower is caught up to `match`; stream appends optimistically (pipelining),
 *            bounded by `inflights`.
 * snapshot:  the follower needs a snapshot; send nothing until reportSnapshot() or an append
 *            response shows it caught up.
 */
import type { LogIndex, NodeId } from '../util/brand.js';
import { Inflights } from './inflights.js';
import { committedIndex, quorumSize } from './quorum.js';
import type { ConfState } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known replicated on the follower. Invariant: match < next. */
  match: LogIndex;
  /** Next index to send. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot the leader planned to send (0 otherwise). */
  pendingSnapshot: LogIndex = 0 as LogIndex;
  /** Heard from since the last CheckQuorum round (§6.2 / dissertation §3.6 "leader steps down"). */
  recentActive = false;
  /** In probe state: one append sent, wait for its answer or a heartbeat response. */
  probeSent = false;
  readonly inflights: Inflights;
  /** Highest ReadIndex round this peer acknowledged in the current term (read-only.ts). */
  readSeqAck = 0;

  constructor(
    next: LogIndex,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.match = 0 as LogIndex;
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(s: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.state = s;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the planned snapshot (if it succeeded).
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1) as LogIndex;
    } else {
      this.resetState('probe');
      this.next = (this.match + 1) as LogIndex;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = (this.match + 1) as LogIndex;
  }

  becomeSnapshot(snapIndex: LogIndex): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapIndex;
  }

  /** An append up to n was acknowledged. Returns whether match moved. */
  maybeUpdate(n: LogIndex): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = (n + 1) as LogIndex;
    return updated;
  }

  /** Optimistic next after sending entries up to n in replicate state. */
  optimisticUpdate(n: LogIndex): void {
    this.next = (n + 1) as LogIndex;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is the leader's guess of the last
   * index that may match. Returns false for stale rejections (already superseded).
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1) as LogIndex;
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

/** Per-member progress plus the current configuration (etcd's ProgressTracker). */
export class ProgressTracker {
  /** Sorted; never contains a learner. */
  voters: NodeId[] = [];
  /** Sorted; disjoint from voters. */
  learners: NodeId[] = [];
  /** Exactly one entry per voter and learner. */
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(private readonly maxInflight: number) {}

  /** Installs `conf`, keeping progress of members that stay; new members start at `next`. */
  applyConf(conf: ConfState, next: LogIndex): void {
    this.voters = [...conf.voters].sort((a, b) => a - b);
    this.learners = [...conf.learners].sort((a, b) => a - b);
    const keep = new Set<NodeId>([...this.voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!keep.has(id)) this.progress.delete(id);
    for (const id of keep) {
      const isLearner = !this.voters.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const p = new Progress(next, this.maxInflight, isLearner);
        // A member that just joined counts as active so CheckQuorum does not depose the leader
        // before the newcomer had a chance to answer (etcd does the same).
        p.recentActive = true;
        this.progress.set(id, p);
      } else {
        pr.isLearner = isLearner;
      }
    }
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** The highest index replicated on a quorum of voters. */
  committed(): LogIndex {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0) as LogIndex;
  }

  /** Leader side of CheckQuorum: a quorum of voters (self included) was heard from. */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= quorumSize(this.voters);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }
}
