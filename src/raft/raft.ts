/**
 * The Raft state machine proper (etcd-io/raft's raft.go): one function per role, no I/O. Output is
 * queued in `msgs` / `readStates` and in the log's unstable part; RawNode turns it into Ready.
 *
 * Sections cited: the Raft paper (§5.x) and Ongaro's dissertation (§3.x, §4.x, §6.4, §9.6).
 */
import { invariant } from '../util/assert.js';
import type { LogIndex, NodeId, Term } from '../util/brand.js';
import { NO_NODE } from '../util/brand.js';
import type { CoreLogger } from '../util/logger.js';
import { err, ok } from '../util/result.js';
import type { Result } from '../util/result.js';
import type { Rng } from '../util/rng.js';
import { applyToConf, encodeConfChange, validateConfChange } from './conf-change.js';
import { payloadSize } from './entry-size.js';
import { RaftLog } from './log.js';
import type {
  AppMsg,
  AppRespMsg,
  HeartbeatMsg,
  HeartbeatRespMsg,
  Message,
  ReadIndexMsg,
  SnapMsg,
  VoteMsg,
} from './messages.js';
import { ProgressTracker } from './progress.js';
import type { Progress } from './progress.js';
import { committedIndex } from './quorum.js';
import { ReadOnly } from './read-only.js';
import type { ConfChange, ConfState, Entry, RaftStorage, ReadState, Role, Snapshot } from './types.js';
import { EntryType } from './types.js';

export interface RaftConfig {
  /** This member's id; never 0. */
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning; the actual timeout is random in [electionTick, 2*electionTick). */
  electionTick: number;
  /** Ticks between leader heartbeats. Must be < electionTick (typically electionTick / 10). */
  heartbeatTick: number;
  /** Upper bound on entry bytes per AppendEntries message (at least one entry is always sent). */
  maxSizePerMsg: number;
  /** AppendEntries messages in flight per follower in replicate state (pipelining window). */
  maxInflightMsgs: number;
  /** Proposals are refused while more payload bytes than this are uncommitted (0/undefined: no limit). */
  maxUncommittedEntriesSize?: number;
  /** Bytes of committed entries per Ready (default: unlimited). */
  maxCommittedSizePerReady?: number;
  preVote: boolean;
  checkQuorum: boolean;
  readOnlyOption?: 'safe' | 'leaseBased';
  /** The server's applied index at restart (its state machine is durable up to here). */
  applied?: LogIndex;
  logger?: CoreLogger;
}

export type ProposeError =
  | { readonly type: 'notLeader'; readonly leader: NodeId }
  | { readonly type: 'transferring'; readonly leader: NodeId }
  /** Another conf change is not applied yet (or the leader has not committed an entry of its term). */
  | { readonly type: 'confChangePending' }
  | { readonly type: 'invalidConfChange'; readonly reason: string }
  /** The uncommitted-bytes limit would be exceeded; retry later. */
  | { readonly type: 'tooLarge' };

export type StepError =
  /** A message for another member, or from a member this one does not track: dropped. */
  | { readonly type: 'misrouted' }
  /** Responses from non-members or for a peer we do not track. */
  | { readonly type: 'unknownPeer'; readonly from: NodeId };

const EMPTY = new Uint8Array(0);

type CampaignKind = 'preElection' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  /** Invariant: never decreases. Persisted (HardState). */
  term: Term = 0 as Term;
  /** Whom we voted for in `term` (NO_NODE if nobody). Persisted. */
  vote: NodeId = NO_NODE;
  role: Role = 'follower';
  /** The leader of `term` as far as we know (NO_NODE if unknown). */
  lead: NodeId = NO_NODE;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  /** Outbox; drained by RawNode.ready(). */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  private readonly cfg: RaftConfig;
  private readonly rng: Rng;
  readonly logger: CoreLogger | undefined;
  private readonly maxUncommitted: number;
  private readonly readOnly = new ReadOnly();
  private readonly leaseBased: boolean;
  /** Payload bytes appended by this leader and not yet handed out as committed. */
  private uncommittedSize = 0;
  /** A conf change entry at an index > applied is in the log: refuse another (single-server changes). */
  pendingConfIndex: LogIndex = 0 as LogIndex;
  /** Target of an ongoing leadership transfer (NO_NODE if none). */
  leadTransferee: NodeId = NO_NODE;
  /** Reads that arrived before this leader committed an entry of its term (§6.4 step 1). */
  private pendingReads: { from: NodeId; ctx: Uint8Array }[] = [];

  /** Ticks since the last election timeout reset (followers: since hearing from a leader). */
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Random in [electionTick, 2*electionTick): spreads candidates apart (§5.2). */
  private randomizedElectionTimeout = 0;

  constructor(cfg: RaftConfig, storage: RaftStorage, rng: Rng) {
    invariant(cfg.id !== NO_NODE, 'raft: id must not be 0');
    invariant(cfg.heartbeatTick > 0, 'raft: heartbeatTick must be > 0');
    invariant(cfg.electionTick > cfg.heartbeatTick, 'raft: electionTick must be > heartbeatTick');
    invariant(cfg.maxInflightMsgs > 0, 'raft: maxInflightMsgs must be > 0');
    invariant(cfg.maxSizePerMsg > 0, 'raft: maxSizePerMsg must be > 0');
    // A lease is only sound if a leader that lost its quorum steps down in time (CheckQuorum).
    invariant(
      cfg.readOnlyOption !== 'leaseBased' || cfg.checkQuorum,
      'raft: leaseBased reads need checkQuorum',
    );
    this.cfg = cfg;
    this.id = cfg.id;
    this.rng = rng;
    this.logger = cfg.logger;
    this.maxUncommitted = cfg.maxUncommittedEntriesSize ?? 0;
    this.leaseBased = cfg.readOnlyOption === 'leaseBased';
    this.log = new RaftLog(storage, cfg.maxCommittedSizePerReady ?? Number.POSITIVE_INFINITY);
    this.trk = new ProgressTracker(cfg.maxInflightMsgs);

    const { hardState, conf } = storage.initialState();
    this.trk.applyConf(conf, (this.log.lastIndex() + 1) as LogIndex);
    if (hardState.term !== 0 || hardState.commit !== 0 || hardState.vote !== NO_NODE) {
      invariant(
        hardState.commit <= this.log.lastIndex(),
        `raft: hard state commit ${hardState.commit} beyond the last log index ${this.log.lastIndex()}`,
      );
      // A stored commit below the snapshot is stale, not wrong: entries are applied (and compacted
      // into a snapshot) while the hard state that records their commit may still be in flight.
      this.log.committed = Math.max(hardState.commit, this.log.committed) as LogIndex;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    if (cfg.applied !== undefined && cfg.applied > this.log.applied) {
      // Only committed entries are applied, so the applied index is a commit index too; it may be
      // ahead of the stored one (entries applied while the next hard state was being written).
      invariant(
        cfg.applied <= this.log.lastIndex(),
        `raft: applied ${cfg.applied} beyond the last log index ${this.log.lastIndex()}`,
      );
      this.log.commitTo(cfg.applied);
      this.log.appliedTo(cfg.applied);
    }
    this.becomeFollower(this.term, NO_NODE);
  }

  // ---------------------------------------------------------------- helpers

  private promotable(): boolean {
    return this.trk.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTick + this.rng.int(this.cfg.electionTick);
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Resets per-term volatile state (§5.1: a new term starts with no vote and no known leader). */
  private reset(t: Term): void {
    if (this.term !== t) {
      this.term = t;
      this.vote = NO_NODE;
    }
    this.lead = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NO_NODE;
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    const conf = this.trk.confState();
    this.trk.progress.clear();
    this.trk.applyConf(conf, (last + 1) as LogIndex);
    for (const pr of this.trk.progress.values()) pr.recentActive = false;
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      // Only what is durable counts toward a quorum; the rest is acknowledged by persisted().
      self.match = this.log.lastStableIndex();
      self.recentActive = true;
    }
    this.pendingConfIndex = 0 as LogIndex;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReads = [];
  }

  becomeFollower(t: Term, lead: NodeId): void {
    this.reset(t);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'raft: leader cannot become pre-candidate');
    // Pre-Vote (§9.6) changes neither term nor vote, so a partitioned node cannot inflate terms.
    this.trk.resetVotes();
    this.lead = NO_NODE;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', 'raft: leader cannot become candidate');
    this.reset((this.term + 1) as Term);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', 'raft: only a candidate can become leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Conservatively treat everything in the log as possibly containing a conf change: no new
    // change until all of it is applied (etcd does the same).
    this.pendingConfIndex = this.log.lastIndex();
    // §5.4.2 / §8: a no-op entry of the new term lets the leader commit (and learn the commit index).
    this.appendEntries([{ term: this.term, index: 0 as LogIndex, type: EntryType.Normal, data: EMPTY }]);
    this.logger?.info({ id: this.id, term: this.term }, 'became leader');
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.hup('preElection');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        // §6.2 / dissertation §3.6: a leader that cannot reach a quorum for an election timeout
        // steps down, so clients stop waiting on it and (with leases) reads stay safe.
        if (!this.trk.quorumActive(this.id)) {
          this.logger?.warn({ id: this.id, term: this.term }, 'lost quorum: stepping down');
          this.becomeFollower(this.term, NO_NODE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned (§3.10).
      if (this.leadTransferee !== NO_NODE) this.leadTransferee = NO_NODE;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election (or pre-election). `transfer`: asked by the leader via TimeoutNow. */
  hup(kind: CampaignKind): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChanges()) {
      // The configuration may be about to change; campaigning under the old one could be unsafe.
      this.logger?.warn({ id: this.id }, 'not campaigning: unapplied conf change');
      return;
    }
    this.campaign(kind === 'preElection' && !this.cfg.preVote ? 'election' : kind);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex()) as LogIndex;
    for (const e of this.log.slice(lo, (this.log.committed + 1) as LogIndex, Number.POSITIVE_INFINITY)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  private campaign(kind: CampaignKind): void {
    let voteTerm: Term;
    let type: 'vote' | 'preVote';
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteTerm = (this.term + 1) as Term;
      type = 'preVote';
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
      type = 'vote';
    }
    // Our own vote counts first (persisted with the hard state before any vote request leaves).
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const to of this.trk.voters) {
      if (to === this.id) continue;
      this.send({ type, from: this.id, to, term: voteTerm, index, logTerm, transfer: kind === 'transfer' });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.trk.recordVote(id, granted);
    const voters = this.trk.voters;
    const q = Math.floor(voters.length / 2) + 1;
    let yes = 0;
    let no = 0;
    for (const v of voters) {
      const r = this.trk.votes.get(v);
      if (r === true) yes++;
      else if (r === false) no++;
    }
    if (yes >= q) return 'won';
    if (voters.length - no < q) return 'lost';
    return 'pending';
  }

  // ---------------------------------------------------------------- step

  step(m: Message): Result<void, StepError> {
    if (m.to !== this.id) return err({ type: 'misrouted' });
    // --- Term rules for all servers (Figure 2), with Pre-Vote and leader-lease refinements.
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease (dissertation §4.2.3): while we hear from a leader within the minimum election
        // timeout, a vote request is from a disruptive (e.g. rejoining) server: ignore it, unless
        // the leader itself asked for the election (TimeoutNow).
        const inLease =
          this.cfg.checkQuorum && this.lead !== NO_NODE && this.electionElapsed < this.cfg.electionTick;
        if (!m.transfer && inLease) return ok(undefined);
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // A pre-vote request never changes our term; a granted pre-vote carries the future term.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader (e.g. healed from a partition) would never learn the new term if we stay
        // silent, since with pre-vote/check-quorum our term does not reach it otherwise.
        this.send({
          type: 'appResp',
          from: this.id,
          to: m.from,
          term: this.term,
          index: 0 as LogIndex,
          reject: false,
          rejectHint: 0 as LogIndex,
          logTerm: 0 as Term,
        });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return ok(undefined);
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVote(m);
      return ok(undefined);
    }
    switch (this.role) {
      case 'leader':
        return this.stepLeader(m);
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return ok(undefined);
      case 'follower':
        this.stepFollower(m);
        return ok(undefined);
    }
  }

  private handleVote(m: VoteMsg): void {
    // We can vote if we already voted for this candidate (a retry), or have not voted and know no
    // leader in this term, or it is a pre-vote for a future term (which binds nothing).
    const canVote =
      this.vote === m.from ||
      (this.vote === NO_NODE && this.lead === NO_NODE) ||
      (m.type === 'preVote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // Answer in the candidate's term: for a pre-vote our own term did not change.
      this.send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        // Granting a vote resets the election timer (§5.2), so we do not compete right after.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Leadership transfer (§3.10): campaign at once, skipping pre-vote: the leader asked.
        this.hup('transfer');
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, ctx: m.ctx });
        return;
      case 'appResp':
      case 'heartbeatResp':
      case 'readIndex':
      case 'voteResp':
      case 'preVoteResp':
      case 'vote':
      case 'preVote':
        return; // stale or misdirected; nothing to do as a follower
    }
  }

  private stepCandidate(m: Message): void {
    const myRespType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from); // a leader of our term exists (§5.2)
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myRespType) return;
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NO_NODE);
        }
        return;
      }
      case 'appResp':
      case 'heartbeatResp':
      case 'readIndex':
      case 'readIndexResp':
      case 'timeoutNow':
      case 'vote':
      case 'preVote':
        return;
    }
  }

  private stepLeader(m: Message): Result<void, StepError> {
    switch (m.type) {
      case 'readIndex':
        this.handleReadIndex(m.from, m.ctx);
        return ok(undefined);
      case 'appResp':
      case 'heartbeatResp': {
        const pr = this.trk.progress.get(m.from);
        if (pr === undefined) return err({ type: 'unknownPeer', from: m.from });
        pr.recentActive = true;
        if (m.type === 'appResp') this.handleAppResp(m, pr);
        else this.handleHeartbeatResp(m, pr);
        return ok(undefined);
      }
      case 'app':
      case 'heartbeat':
      case 'snap':
      case 'voteResp':
      case 'preVoteResp':
      case 'readIndexResp':
      case 'timeoutNow':
      case 'vote':
      case 'preVote':
        // Election Safety means no other leader of our term exists; anything else is stale.
        return ok(undefined);
    }
  }

  // ---------------------------------------------------------------- follower handlers

  private handleAppend(m: AppMsg): void {
    const reply = (index: LogIndex, reject: boolean, rejectHint: LogIndex, logTerm: Term): void =>
      this.send({
        type: 'appResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject,
        rejectHint,
        logTerm,
      });
    if (m.index < this.log.committed) {
      // Everything up to our commit index matches the leader's log (Log Matching + Leader Completeness).
      reply(this.log.committed, false, 0 as LogIndex, 0 as Term);
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      if (!m.commitOnly) reply(last, false, 0 as LogIndex, 0 as Term);
      return;
    }
    // Consistency check failed (§5.3). Hint the leader past a whole term of conflicting entries.
    const hintIndex = Math.min(m.index, this.log.lastIndex()) as LogIndex;
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    reply(m.index, true, hint.index, hint.term);
  }

  private handleHeartbeat(m: HeartbeatMsg): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()) as LogIndex);
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, readSeq: m.readSeq });
  }

  private handleSnapshot(m: SnapMsg): void {
    const s = m.snapshot;
    const reply = (index: LogIndex): void =>
      this.send({
        type: 'appResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index,
        reject: false,
        rejectHint: 0 as LogIndex,
        logTerm: 0 as Term,
      });
    if (this.restore(s)) reply(this.log.lastIndex());
    else reply(this.log.committed);
  }

  /**
   * Installs a snapshot if it is newer than our commit index. The snapshot may be later than the
   * one the leader planned (the transport streams the newest image): any (index, term, conf) that
   * a leader sends is committed state, so it is always safe to take.
   */
  private restore(s: Snapshot): boolean {
    const { index, term } = s.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already hold the entry: keep our log (it may extend further), just commit up to it.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.trk.applyConf(s.meta.conf, (this.log.lastIndex() + 1) as LogIndex);
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) self.match = this.log.lastIndex();
    this.logger?.info({ id: this.id, index, term }, 'restored snapshot');
    return true;
  }

  // ---------------------------------------------------------------- leader handlers

  private handleAppResp(m: AppRespMsg, pr: Progress): void {
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
        // Caught up through a snapshot, possibly a later one than planned: resume streaming.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.bcastAppend(true);
      } else if (wasPaused) {
        this.sendAppend(m.from);
      }
      // Keep the pipeline full (batching: as many messages as the inflight window allows).
      while (this.maybeSendAppend(m.from, false)) {
        /* keep sending */
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.sendTimeoutNow(m.from);
      }
    }
  }

  private handleHeartbeatResp(m: HeartbeatRespMsg, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.readSeq > pr.readSeqAck) pr.readSeqAck = m.readSeq;
    if (this.readOnly.pendingCount > 0) this.releaseReads();
  }

  private releaseReads(): void {
    const acked = committedIndex(this.trk.voters, (id) =>
      id === this.id ? this.readOnly.seq : (this.trk.progress.get(id)?.readSeqAck ?? 0),
    );
    for (const r of this.readOnly.release(acked)) this.respondRead(r.from, r.index, r.ctx);
  }

  private respondRead(from: NodeId, index: LogIndex, ctx: Uint8Array): void {
    if (from === this.id) this.readStates.push({ index, ctx });
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, index, ctx });
  }

  /** ReadIndex on the leader (§6.4). `from` is this member for local reads. */
  private handleReadIndex(from: NodeId, ctx: Uint8Array): void {
    if (!this.committedEntryInCurrentTerm()) {
      // Step 1 of §6.4: until it commits an entry of its term the leader may not know the
      // latest commit index. Park the read; released right after that commit.
      this.pendingReads.push({ from, ctx });
      return;
    }
    const index = this.log.committed;
    if (this.trk.voters.length === 1 && this.trk.isVoter(this.id)) {
      this.respondRead(from, index, ctx); // single voter: we are trivially the leader
      return;
    }
    if (this.leaseBased) {
      // Lease read (dissertation §6.4.1): trusts that no other leader can be elected within an
      // election timeout of our last quorum contact. ASSUMES bounded clock drift: every member's
      // ticks run at about the same rate. A member whose clock runs slow could serve a stale read.
      this.respondRead(from, index, ctx);
      return;
    }
    const { seq, broadcast } = this.readOnly.add(index, from, ctx);
    if (broadcast) this.bcastHeartbeatSeq(seq);
  }

  private releasePendingReads(): void {
    if (this.pendingReads.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const waiting = this.pendingReads;
    this.pendingReads = [];
    for (const r of waiting) this.handleReadIndex(r.from, r.ctx);
  }

  /** Called when Ready hands the outbox to the server (read-only.ts batching). */
  outboxReleased(): void {
    this.readOnly.closeRound();
  }

  /** Advances the commit index to what a quorum holds, if that entry is of our term (§5.4.2). */
  private maybeCommit(): boolean {
    const mci = this.trk.committed();
    if (!Number.isFinite(mci)) return false;
    if (this.log.maybeCommit(mci, this.term)) {
      this.releasePendingReads();
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- sending

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next batch of entries (or a snapshot) to `to`. Returns whether a message was sent.
   * With sendIfEmpty=false nothing is sent when there are no new entries (pipelining loop).
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean, commit = false): boolean {
    if (to === this.id) return false;
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = (pr.next - 1) as LogIndex;
    const prevTerm = this.log.term(prevIndex);
    const last = this.log.lastIndex();
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) return this.maybeSendSnapshot(to, pr);
    const ents =
      pr.next <= last
        ? this.log.slice(pr.next, (last + 1) as LogIndex, this.cfg.maxSizePerMsg)
        : ([] as Entry[]);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'app',
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
      // A new commit index for a follower that has been sent all we hold, in order on its stream:
      // the answers to those appends say all an answer to this one would. Not for other empty
      // appends: one sent after a heartbeat answer showed a stale match asks for exactly the
      // answer that was lost.
      commitOnly: commit && ents.length === 0 && pr.state === 'replicate',
    });
    const lastSent = ents[ents.length - 1];
    switch (pr.state) {
      case 'replicate':
        if (lastSent !== undefined) {
          pr.optimisticUpdate(lastSent.index);
          pr.inflights.add(lastSent.index);
        }
        break;
      case 'probe':
        pr.probeSent = true;
        break;
      case 'snapshot':
        invariant(false, `sending append to ${to} in snapshot state`);
    }
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower we heard from recently: a snapshot is expensive, a dead peer wastes it.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) return false; // none yet: the server has not created one
    this.send({ type: 'snap', from: this.id, to, term: this.term, snapshot: snap });
    pr.becomeSnapshot(snap.meta.index);
    this.logger?.info({ id: this.id, to, index: snap.meta.index }, 'sending snapshot');
    return true;
  }

  /** `commit`: broadcasting a new commit index (the only time an append may be commit-only). */
  bcastAppend(commit = false): void {
    for (const id of this.trk.progress.keys()) {
      if (id === this.id) continue;
      if (this.maybeSendAppend(id, true, commit)) {
        while (this.maybeSendAppend(id, false)) {
          /* pipeline: fill the inflight window */
        }
      }
    }
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatSeq(this.readOnly.seq);
  }

  private bcastHeartbeatSeq(readSeq: number): void {
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // Never let a follower commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed) as LogIndex;
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit, readSeq });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }

  // ---------------------------------------------------------------- local requests

  private appendEntries(ents: Entry[]): boolean {
    let li = this.log.lastIndex();
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i] as Entry;
      li = (li + 1) as LogIndex;
      ents[i] = { term: this.term, index: li, type: e.type, data: e.data };
    }
    this.log.append(ents);
    // The leader's own copy counts toward the quorum only once persisted() reports it durable:
    // its appends go out in parallel with its own fsync (dissertation §10.2.1).
    return true;
  }

  /**
   * The server made the log durable up to (index, term). On the leader this is its own
   * acknowledgement (it may commit now); followers acknowledge through their MsgAppResp.
   */
  persisted(index: LogIndex, term: Term): void {
    if (this.role !== 'leader' || !this.log.matchTerm(index, term)) return;
    const self = this.trk.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(index)) return;
    if (this.maybeCommit()) this.bcastAppend(true);
  }

  private checkProposable(): ProposeError | undefined {
    if (this.role !== 'leader') return { type: 'notLeader', leader: this.lead };
    if (this.leadTransferee !== NO_NODE) return { type: 'transferring', leader: this.lead };
    // A leader removed from the configuration finishes its term but takes no new work.
    if (!this.trk.progress.has(this.id)) return { type: 'notLeader', leader: NO_NODE };
    return undefined;
  }

  propose(datas: readonly Uint8Array[]): Result<{ term: Term; firstIndex: LogIndex }, ProposeError> {
    const e = this.checkProposable();
    if (e !== undefined) return err(e);
    const firstIndex = (this.log.lastIndex() + 1) as LogIndex;
    if (datas.length === 0) return ok({ term: this.term, firstIndex });
    let size = 0;
    for (const d of datas) size += d.length;
    // Like etcd, an empty pipeline always accepts one batch, so an oversized proposal cannot wedge.
    if (
      this.maxUncommitted > 0 &&
      this.uncommittedSize > 0 &&
      this.uncommittedSize + size > this.maxUncommitted
    ) {
      return err({ type: 'tooLarge' });
    }
    this.uncommittedSize += size;
    const ents: Entry[] = new Array<Entry>(datas.length);
    for (let i = 0; i < datas.length; i++) {
      ents[i] = {
        term: this.term,
        index: 0 as LogIndex,
        type: EntryType.Normal,
        data: datas[i] as Uint8Array,
      };
    }
    this.appendEntries(ents);
    this.bcastAppend();
    return ok({ term: this.term, firstIndex });
  }

  proposeConfChange(cc: ConfChange): Result<{ term: Term; index: LogIndex }, ProposeError> {
    const e = this.checkProposable();
    if (e !== undefined) return err(e);
    // Single-server change bug fix (dissertation §4.1 erratum): a new leader must commit an entry
    // of its own term before changing membership, and one change at a time (applied before the next).
    if (!this.committedEntryInCurrentTerm() || this.pendingConfIndex > this.log.applied) {
      return err({ type: 'confChangePending' });
    }
    const valid = validateConfChange(this.trk.confState(), cc);
    if (!valid.ok) return err({ type: 'invalidConfChange', reason: valid.error });
    this.appendEntries([
      { term: this.term, index: 0 as LogIndex, type: EntryType.ConfChange, data: encodeConfChange(cc) },
    ]);
    const index = this.log.lastIndex();
    this.pendingConfIndex = index;
    this.bcastAppend();
    return ok({ term: this.term, index });
  }

  /** The server applied a committed conf change entry: switch to the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    const conf = applyToConf(this.trk.confState(), cc);
    this.trk.applyConf(conf, (this.log.lastIndex() + 1) as LogIndex);
    if (this.role !== 'leader') return conf;
    if (!this.trk.isVoter(this.id)) {
      // Removed (or demoted) leader: step down once the change is applied (dissertation §4.2.2).
      this.logger?.info({ id: this.id, term: this.term }, 'removed from voters: stepping down');
      this.becomeFollower(this.term, NO_NODE);
      return conf;
    }
    if (this.leadTransferee !== NO_NODE && !this.trk.isVoter(this.leadTransferee))
      this.leadTransferee = NO_NODE;
    // The quorum changed: something may now be committed, and new members need entries.
    this.maybeCommit();
    this.bcastAppend();
    return conf;
  }

  readIndex(ctx: Uint8Array): Result<void, ProposeError> {
    if (this.role === 'leader') {
      this.handleReadIndex(this.id, ctx);
      return ok(undefined);
    }
    if (this.role !== 'follower' || this.lead === NO_NODE)
      return err({ type: 'notLeader', leader: this.lead });
    const m: ReadIndexMsg = { type: 'readIndex', from: this.id, to: this.lead, term: this.term, ctx };
    this.send(m);
    return ok(undefined);
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader' || to === this.id || !this.trk.isVoter(to)) return;
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer must finish within an election timeout or it is abandoned (tickHeartbeat).
    this.electionElapsed = 0;
    const pr = this.trk.progress.get(to) as Progress;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.trk.progress.get(id);
    if (this.role !== 'leader' || pr === undefined) return;
    // Stop streaming optimistically to a peer the transport cannot reach; probe instead.
    if (pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, success: boolean): void {
    const pr = this.trk.progress.get(id);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!success) pr.pendingSnapshot = 0 as LogIndex;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing, so a failed install is not retried in a loop.
    pr.probeSent = true;
  }

  /** Called by RawNode when committed entries are handed to the server (frees proposal budget). */
  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.role !== 'leader' || this.uncommittedSize === 0) return;
    const s = payloadSize(ents);
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }
}
