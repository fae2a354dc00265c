/**
 * The server's handle on the Raft core (etcd-io/raft's RawNode). Single owner, synchronous:
 *
 *   loop:
 *     feed input: tick() on a timer, step(m) for each peer message, propose / readIndex / ...
 *     if hasReady():
 *       rd = ready()
 *       0. if rd.sendBeforePersist, send rd.messages now, in parallel with step 1;
 *       1. persist rd.snapshot (storage.applySnapshot), rd.entries (append, may overwrite a suffix)
 *          and rd.hardState — durably (fsync when rd.mustSync);
 *       2. otherwise only then send rd.messages (they may promise what was just persisted: votes,
 *          acks);
 *       3. apply rd.committedEntries in order (ConfChange entries: applyConfChange), serve
 *          rd.readStates once applied >= their index;
 *       4. advance(rd).
 *
 * At most one Ready is outstanding: hasReady() is false until advance() is called for it.
 * Input may still be stepped in between; its output goes into the next Ready, except what
 * readyWhilePersisting() hands out early (committed entries, read states and a leader's messages),
 * so one fsync in flight does not hold up applying and replicating (etcd's asynchronous storage
 * writes, with one write in flight).
 */
import { invariant } from '../util/assert.js';
import type { LogIndex, NodeId, Term } from '../util/brand.js';
import type { Result } from '../util/result.js';
import type { Rng } from '../util/rng.js';
import type { Message } from './messages.js';
import type { ProgressState } from './progress.js';
import { Raft } from './raft.js';
import type { ProposeError, RaftConfig, StepError } from './raft.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  RaftStorage,
  ReadState,
  Role,
  Snapshot,
  SoftState,
} from './types.js';

export type { ProposeError, RaftConfig, StepError } from './raft.js';

export interface Ready {
  /** Present only when leader or role changed. */
  readonly softState?: SoftState;
  /** Present only when changed: persist before sending messages. */
  readonly hardState?: HardState;
  /** Persist; may overwrite the stored suffix starting at entries[0].index. */
  readonly entries: readonly Entry[];
  /** Persist and install (storage.applySnapshot + restore the state machine from its data). */
  readonly snapshot?: Snapshot;
  /** Send only AFTER everything above is durable, unless sendBeforePersist. */
  readonly messages: readonly Message[];
  /**
   * The messages promise nothing about what this Ready persists, so they may go out before (in
   * parallel with) the fsync: a leader's appends and heartbeats in a Ready that changes neither
   * term nor vote (dissertation §10.2.1). The leader counts its own entries toward a quorum only
   * once advance() reports them durable.
   */
  readonly sendBeforePersist: boolean;
  /** Apply in order. */
  readonly committedEntries: readonly Entry[];
  /** Linearizable reads: serve each once the state machine has applied `index`. */
  readonly readStates: readonly ReadState[];
  /** Whether the persist step must fsync (new entries, or term/vote changed). */
  readonly mustSync: boolean;
}

/** What may be handled while the outstanding Ready's persist is still in flight. */
export interface EarlyReady {
  /** Apply in order, after any committed entries handed out before. */
  readonly committedEntries: readonly Entry[];
  /** Send now: a leader's appends, heartbeats and read answers (they promise nothing unpersisted). */
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}

export interface PeerProgress {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly leader: NodeId;
  readonly role: Role;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  /** Only on the leader. */
  readonly progress?: ReadonlyMap<NodeId, PeerProgress>;
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** The Ready handed out and not yet advanced (at most one). */
  private outstanding: Ready | undefined = undefined;

  constructor(cfg: RaftConfig, storage: RaftStorage, rng: Rng) {
    this.raft = new Raft(cfg, storage, rng);
    this.prevSoft = { leader: this.raft.lead, role: this.raft.role };
    this.prevHard = storage.initialState().hardState;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Steps a peer message. Errors are informational (the message was dropped). */
  step(m: Message): Result<void, StepError> {
    return this.raft.step(m);
  }

  /** Appends all datas as consecutive Normal entries in one go (batching). Leader only. */
  propose(datas: readonly Uint8Array[]): Result<{ term: Term; firstIndex: LogIndex }, ProposeError> {
    return this.raft.propose(datas);
  }

  proposeConfChange(cc: ConfChange): Result<{ term: Term; index: LogIndex }, ProposeError> {
    return this.raft.proposeConfChange(cc);
  }

  /** Call when applying a committed ConfChange entry; persist the returned ConfState with the apply. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Requests a linearizable read. The answer arrives later as a ReadState carrying the same ctx
   * (use unique ctx values); it never arrives if leadership is lost meanwhile (time out and retry).
   */
  readIndex(ctx: Uint8Array): Result<void, ProposeError> {
    return this.raft.readIndex(ctx);
  }

  /** Leader only: hand leadership to `to` (dissertation §3.10). Proposals are refused meanwhile. */
  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** Start an election now (with pre-vote if enabled). */
  campaign(): void {
    this.raft.hup('preElection');
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** The transport finished (ok) or gave up (!ok) sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  private softChanged(): boolean {
    return this.raft.lead !== this.prevSoft.leader || this.raft.role !== this.prevSoft.role;
  }

  private hardChanged(): boolean {
    const r = this.raft;
    return (
      r.term !== this.prevHard.term ||
      r.vote !== this.prevHard.vote ||
      r.log.committed !== this.prevHard.commit
    );
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    return (
      r.msgs.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.readStates.length > 0 ||
      this.softChanged() ||
      this.hardChanged() ||
      r.log.hasNextCommittedEnts()
    );
  }

  ready(): Ready {
    invariant(
      this.outstanding === undefined,
      'RawNode.ready() called before advance() of the previous Ready',
    );
    const r = this.raft;
    const entries = r.log.unstable.entries.slice();
    const committedEntries = r.log.nextCommittedEnts();
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      r.log.applying = lastCommitted.index;
      r.reduceUncommittedSize(committedEntries);
    }
    const rd: {
      -readonly [K in keyof Ready]: Ready[K];
    } = {
      entries,
      messages: r.msgs,
      committedEntries,
      readStates: r.readStates,
      mustSync: entries.length > 0 || r.term !== this.prevHard.term || r.vote !== this.prevHard.vote,
      sendBeforePersist:
        r.role === 'leader' && r.term === this.prevHard.term && r.vote === this.prevHard.vote,
    };
    if (this.softChanged()) {
      this.prevSoft = { leader: r.lead, role: r.role };
      rd.softState = this.prevSoft;
    }
    if (this.hardChanged()) {
      this.prevHard = { term: r.term, vote: r.vote, commit: r.log.committed };
      rd.hardState = this.prevHard;
    }
    const snap = r.log.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    r.msgs = [];
    r.readStates = [];
    r.outboxReleased();
    this.outstanding = rd;
    return rd;
  }

  /**
   * While the outstanding Ready is being persisted: committed entries up to what storage holds or
   * is writing (an apply recorded before its log entry is written could outlive a crash that the
   * entry does not), read states, and the messages of a leader whose outstanding Ready changed
   * neither term nor vote and that has led ever since (the sendBeforePersist rule; a member that
   * stepped down may owe a vote or an ack, which must wait for the fsync). Undefined when nothing
   * is due or no Ready is outstanding.
   */
  readyWhilePersisting(): EarlyReady | undefined {
    const rd = this.outstanding;
    if (rd === undefined) return undefined;
    const r = this.raft;
    const log = r.log;
    const lastOut = rd.entries[rd.entries.length - 1];
    const committedEntries = log.nextCommittedEnts(Math.max(log.unstable.offset - 1, lastOut?.index ?? 0));
    const last = committedEntries[committedEntries.length - 1];
    if (last !== undefined) {
      log.applying = last.index;
      r.reduceUncommittedSize(committedEntries);
    }
    const leading =
      rd.sendBeforePersist &&
      r.role === 'leader' &&
      r.term === this.prevHard.term &&
      r.vote === this.prevHard.vote;
    const messages = leading && r.msgs.length > 0 ? r.msgs : [];
    if (messages.length > 0) {
      r.msgs = [];
      r.outboxReleased();
    }
    const readStates = r.readStates;
    if (readStates.length > 0) r.readStates = [];
    if (committedEntries.length === 0 && messages.length === 0 && readStates.length === 0) return undefined;
    return { committedEntries, messages, readStates };
  }

  /**
   * The server applied entries up to `i` (in memory; it need not wait for advance()). Lets the
   * leader accept the next configuration change as soon as the previous one is applied.
   */
  appliedTo(i: LogIndex): void {
    this.raft.log.appliedTo(i);
  }

  /** The Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    invariant(rd === this.outstanding, 'RawNode.advance() with a Ready that is not the outstanding one');
    const log = this.raft.log;
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) log.appliedTo(lastCommitted.index);
    if (rd.snapshot !== undefined) {
      log.unstable.stableSnapTo(rd.snapshot.meta.index);
      log.appliedTo(rd.snapshot.meta.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) {
      log.unstable.stableTo(lastEntry.index, lastEntry.term);
      this.raft.persisted(lastEntry.index, lastEntry.term);
    }
    this.outstanding = undefined;
  }

  status(): RaftStatus {
    const r = this.raft;
    const base = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      leader: r.lead,
      role: r.role,
      conf: r.trk.confState(),
      leadTransferee: r.leadTransferee,
    };
    if (r.role !== 'leader') return base;
    const progress = new Map<NodeId, PeerProgress>();
    for (const [id, pr] of r.trk.progress) {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        recentActive: pr.recentActive,
        isLearner: pr.isLearner,
      });
    }
    return { ...base, progress };
  }

  /** The term of entry i as this member sees it, unstable entries included (undefined if compacted or absent). */
  termAt(i: LogIndex): Term | undefined {
    return this.raft.log.term(i);
  }

  /** First index still in the log (entries before it are in the snapshot). */
  firstIndex(): LogIndex {
    return this.raft.log.firstIndex();
  }
}
