/**
 * The member: the single owner of the Raft node. It drives the pure core with ticks and peer
 * messages and runs the Ready loop (etcd-io/raft's contract):
 *   persist hard state + entries → send messages → apply committed entries → advance.
 * Committed entries are applied to the in-memory tree at once and clients answered then (a write
 * is durable once its log entry is on a quorum's disks); the tree's changes are written with the
 * applied index in an unsynced batch that rides the next synced one (queued behind the log persist
 * by the store's group commit, so the durable order is always log first; a crash replays the log
 * above the applied index). Reads are linearizable through batched ReadIndex rounds; writes on a
 * follower are forwarded to the leader in order, one batch in flight, so a client's pipelined
 * writes keep their order.
 */
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import type { Rng } from '../util/rng.js';
import type { NodeId, SessionId } from '../util/brand.js';
import { NO_NODE, logIndex, nodeId } from '../util/brand.js';
import { ByteReader, ByteWriter } from '../util/bytes.js';
import type { Result } from '../util/result.js';
import { RateLimitedLog } from '../util/rate-limited-log.js';
import type { ConfChange, ConfState, Entry, Role } from '../raft/types.js';
import type { Ready } from '../raft/raw-node.js';
import { EntryType } from '../raft/types.js';
import { RawNode } from '../raft/raw-node.js';
import { MemoryStorage } from '../raft/memory-storage.js';
import { decodeMessage, encodeMessage } from '../raft/codec.js';
import { bootstrapState, decodeConfChange } from '../raft/conf-change.js';
import type { Message } from '../raft/messages.js';
import { DataTree } from '../tree/data-tree.js';
import type { Envelope, Command } from '../tree/commands.js';
import { decodeEnvelope, encodeEnvelope } from '../tree/command-codec.js';
import { decodeResult, encodeResult } from '../tree/result-codec.js';
import type { CommandResult } from '../tree/results.js';
import type { TreeError } from '../tree/errors.js';
import type { TreeLimits } from '../tree/limits.js';
import type {
  AppliedMeta,
  MemberMetrics,
  PeerHandlerPort,
  SnapshotReaderPort,
  StoragePort,
  TransportPort,
} from './ports.js';
import { NO_MEMBER_METRICS } from './ports.js';
import type { MemberInfo } from './address-book.js';
import { decodeAddressBook, decodeMemberInfo, encodeAddressBook, encodeMemberInfo } from './address-book.js';
import { MemberError, memberErrorFromGrpc, unavailable } from './errors.js';
import type { Deferred } from './deferred.js';
import { deferred } from './deferred.js';
import type { Applied } from './proposals.js';
import { ProposalTable } from './proposals.js';
import { ReadQueue } from './read-queue.js';
import { SessionTracker } from './session-tracker.js';
import { WatchHub } from './watch-hub.js';
import type { AdminOp, WriteItemResult } from './forward-codec.js';
import {
  FORWARD_ADMIN,
  FORWARD_TOUCH,
  FORWARD_WRITE,
  decodeAdminOp,
  decodeSessionIds,
  decodeWriteBatch,
  decodeWriteResults,
  encodeAdminOp,
  encodeSessionIds,
  encodeWriteBatch,
  encodeWriteResults,
} from './forward-codec.js';

export interface MemberOptions {
  readonly self: MemberInfo;
  readonly clusterId: string;
  /** Used only to bootstrap a fresh data directory (and not with `join`). */
  readonly initialCluster: ReadonlyMap<NodeId, MemberInfo>;
  readonly join: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly limits: TreeLimits;
  /** Compact the log once this many entries were applied since the last compaction. */
  readonly snapshotEntries: number;
  /** Entries kept behind the compaction point so a slightly slow follower needs no snapshot. */
  readonly catchUpEntries: number;
  /**
   * Forward batches a follower may have in flight to the leader at once (default 1). More than
   * one is only order-preserving when the transport delivers forwards to the leader in order and
   * the leader proposes them in arrival order (the pipelined ForwardStream does both).
   */
  readonly forwardsInFlight?: number;
  readonly storage: StoragePort;
  readonly transport: TransportPort;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly logger: Logger;
  /** Counters for /metrics; no-ops when absent. */
  readonly metrics?: MemberMetrics;
  readonly watch?: {
    maxBacklog?: number;
    historyEvents?: number;
    historyBytes?: number;
    progressMs?: number;
  };
}

export type WriteOutcome = Applied<Result<CommandResult, TreeError>>;

type ApplyValue =
  { kind: 'tree'; result: Result<CommandResult, TreeError>; encoded?: Uint8Array } | { kind: 'conf' };

interface QueuedWrite {
  readonly data: Uint8Array;
  readonly d: Deferred<Applied<ApplyValue>>;
  readonly deadline: number;
}

interface ForwardItem {
  readonly data: Uint8Array;
  readonly d: Deferred<WriteItemResult>;
  readonly deadline: number;
  /** Arrival order; a batch the leader refused is re-queued in this order. */
  readonly seq: number;
}

export interface MemberStatus {
  readonly id: number;
  readonly name: string;
  readonly leader: number;
  readonly role: Role;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly conf: ConfState;
  readonly members: ReadonlyMap<NodeId, MemberInfo>;
  /** Followers the leader has heard from recently (all members when not leader: unknown). */
  readonly healthy: ReadonlySet<number>;
}

const MAX_FORWARD_BATCH = 512;

export class Member implements PeerHandlerPort {
  readonly tree: DataTree;
  readonly watches: WatchHub;
  private readonly log: Logger;
  private readonly peerWarn: RateLimitedLog;
  private readonly mem = new MemoryStorage();
  private node!: RawNode;
  /**
   * False until start() has built the Raft node. The peer transport listens before that (it
   * starts first) and a restarting member may spend seconds restoring a large tree, so peer
   * traffic arriving meanwhile is dropped; the leader resends (Raft §5.3).
   */
  private started = false;
  private readonly proposals = new ProposalTable<ApplyValue>();
  private readonly reads = new ReadQueue();
  private readonly sessions = new SessionTracker();

  private applied = 0;
  private appliedTerm = 0;
  private conf: ConfState = { voters: [], learners: [] };
  private book = new Map<NodeId, MemberInfo>();
  private encodedBook: { book: Map<NodeId, MemberInfo>; bytes: Uint8Array } | undefined;
  private lastCompacted = 0;
  /** The index of the snapshot image onSnapshot installed and the core has yet to hand back. */
  private stagedSnapshot = -1;
  private compacting = false;

  private leader: NodeId = NO_NODE;
  private role: Role = 'follower';

  private proposeQueue: QueuedWrite[] = [];
  private forwardQueue: ForwardItem[] = [];
  /** Forward batches sent and not yet answered. Invariant: <= forwardsInFlight. */
  private forwarding = 0;
  private forwardSeq = 0;
  private touchQueue = new Map<bigint, Deferred<boolean>[]>();
  private touching = false;

  private pumping = false;
  /** The Ready loop waits for a synced persist: handleEarly may run. */
  private persisting = false;
  private earlyScheduled = false;
  private again = false;
  private installing = false;
  private stopped = false;
  private fatal: Error | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private tickCount = 0;
  private sweepInFlight = false;
  private expireInFlight = false;
  private readonly snapshotsInFlight = new Set<number>();
  /** Waiters for the applied index to reach a revision (read-your-writes after forwarding). */
  private appliedWaiters: { rev: number; d: Deferred<void> }[] = [];
  /** The chain of durable apply batches: clients are answered in apply order. */
  private applyChain: Promise<void> = Promise.resolve();
  private readonly onFatal: (e: Error) => void;
  private readonly metrics: MemberMetrics;

  constructor(
    private readonly opts: MemberOptions,
    onFatal: (e: Error) => void,
  ) {
    this.log = opts.logger;
    this.peerWarn = new RateLimitedLog(this.log, 5_000, () => this.opts.clock.monoMs());
    this.tree = new DataTree(opts.limits);
    this.watches = new WatchHub({
      maxBacklog: opts.watch?.maxBacklog ?? 10_000,
      historyEvents: opts.watch?.historyEvents ?? 100_000,
      historyBytes: opts.watch?.historyBytes ?? 64 * 1024 * 1024,
    });
    this.onFatal = onFatal;
    this.metrics = opts.metrics ?? NO_MEMBER_METRICS;
  }

  get id(): NodeId {
    return this.opts.self.id;
  }

  /** Loads durable state, builds the Raft node and starts ticking. */
  async start(): Promise<void> {
    const { storage } = this.opts;
    const appliedMeta = await storage.loadApplied();
    await this.restoreTree();
    this.applied = appliedMeta.index;
    this.appliedTerm = appliedMeta.term;
    this.conf = appliedMeta.conf;
    this.book = decodeAddressBook(appliedMeta.extra);
    // Watch history is in memory only: replay starts after what this process applied.
    this.watches.reset(this.applied, unavailable('member restarted'));

    let raft = await storage.loadRaft();
    const fresh = raft.hardState.term === 0 && raft.entries.length === 0 && this.applied === 0;
    if (fresh && !this.opts.join) {
      // Bootstrap the etcd way: the founding voters are committed ConfChange entries of term 1,
      // identical on every founder, so the configuration is in the log and a member that later
      // replays it from index 1 learns who votes.
      const voters = [...this.opts.initialCluster.keys()].sort((a, b) => a - b);
      const b = bootstrapState(voters);
      this.book = new Map(this.opts.initialCluster);
      await storage.commitApply(this.appliedMetaNow(), []);
      await storage.persist({ hardState: b.hardState, entries: b.entries });
      raft = await storage.loadRaft();
    } else if (fresh && this.opts.join) {
      // A joining member knows nothing yet but must be able to answer the leader; the leader's
      // snapshot brings the real configuration and address book.
      this.book = new Map(this.opts.initialCluster);
    }
    this.mem.applySnapshot({
      meta: { index: raft.snapshotMeta.index, term: raft.snapshotMeta.term, conf: this.conf },
      data: new Uint8Array(0),
    });
    this.mem.setHardState(raft.hardState);
    if (raft.entries.length > 0) this.mem.append(raft.entries);
    this.mem.setConf(this.conf);
    this.lastCompacted = raft.snapshotMeta.index;

    this.node = new RawNode(
      {
        id: this.id,
        electionTick: this.opts.electionTicks,
        heartbeatTick: this.opts.heartbeatTicks,
        maxSizePerMsg: 1024 * 1024,
        maxInflightMsgs: 256,
        maxCommittedSizePerReady: 16 * 1024 * 1024,
        preVote: true,
        checkQuorum: true,
        applied: logIndex(this.applied),
        logger: {
          debug: () => undefined,
          info: (f, m) => this.log.info(f, m),
          warn: (f, m) => this.log.warn(f, m),
        },
      },
      this.mem,
      this.opts.rng,
    );
    this.started = true;
    this.opts.transport.setPeers(this.peerAddresses());
    this.opts.transport.onUnreachable = (id) => {
      this.node.reportUnreachable(id);
      this.kick();
    };
    this.log.info(
      {
        applied: this.applied,
        term: raft.hardState.term,
        voters: this.conf.voters,
        learners: this.conf.learners,
      },
      'member started',
    );
    this.ticker = setInterval(() => this.onTick(), this.opts.tickMs);
    this.kick();
  }

  /** Stops ticking and answers everything still waiting. Leadership transfer is the caller's. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    const err = unavailable('the member is shutting down', this.leader);
    this.proposals.rejectAll(err);
    this.reads.rejectAll(err);
    for (const q of this.proposeQueue) q.d.reject(err);
    for (const f of this.forwardQueue) f.d.reject(err);
    this.proposeQueue = [];
    this.forwardQueue = [];
    this.watches.closeAll(err);
    await this.applyChain.catch(() => undefined);
  }

  // ---------------------------------------------------------------- public operations

  /** Replicates one tree command; resolves once it is applied and durable on this member. */
  async write(env: Envelope, deadline: number): Promise<WriteOutcome> {
    this.checkRunning();
    const data = encodeEnvelope(env);
    if (this.isLeader()) {
      const r = await this.proposeLocal(data, deadline);
      if (r.value.kind !== 'tree')
        throw new MemberError('internal', 'a write applied as a configuration change');
      return { revision: r.revision, value: r.value.result };
    }
    const item = await this.forwardWrite(data, deadline);
    if (!item.ok) throw item.error;
    // Read-your-writes on this member: answer only once it has applied the write itself.
    await this.waitApplied(item.revision, deadline);
    return { revision: item.revision, value: decodeResult(item.result) };
  }

  /** A linearizable point (§6.4): resolves with an applied revision that includes every write committed before the call. */
  async linearize(deadline: number): Promise<number> {
    this.checkRunning();
    const d = deferred<number>();
    this.reads.enqueue(d, deadline);
    this.kick();
    return d.promise;
  }

  get appliedRevision(): number {
    return this.applied;
  }

  /** A keep-alive for a session; false when the session is unknown or expired. */
  async touchSession(id: bigint, deadline: number): Promise<boolean> {
    this.checkRunning();
    const timeout = this.sessionTimeout(id);
    if (timeout === undefined) {
      // The session may be brand new and not yet applied here: ask the leader before refusing.
      if (this.isLeader()) return false;
    } else if (this.isLeader()) {
      return this.sessions.touch(id, timeout, this.opts.clock.monoMs());
    }
    const d = deferred<boolean>();
    const list = this.touchQueue.get(id);
    if (list) list.push(d);
    else this.touchQueue.set(id, [d]);
    this.kickTouch(deadline);
    return d.promise;
  }

  /** A consistent image of the applied state, for backups (it does not stop writes). */
  openSnapshot(): Promise<SnapshotReaderPort> {
    this.checkRunning();
    return this.opts.storage.openSnapshot();
  }

  /** The timeout of a live session, undefined when the tree does not know it. */
  sessionTimeout(id: bigint): number | undefined {
    return this.tree.sessionTimeout(id as SessionId);
  }

  status(): MemberStatus {
    const st = this.node.status();
    const healthy = new Set<number>();
    if (this.isLeader() && st.progress) {
      for (const [id, p] of st.progress) if (p.recentActive || id === this.id) healthy.add(id);
    } else {
      for (const id of this.book.keys()) healthy.add(id);
    }
    return {
      id: this.id,
      name: this.opts.self.name,
      leader: this.leader,
      role: this.role,
      term: st.term,
      commit: st.commit,
      applied: this.applied,
      conf: this.conf,
      members: this.book,
      healthy,
    };
  }

  leaderInfo(): MemberInfo | undefined {
    return this.leader === NO_NODE ? undefined : this.book.get(this.leader);
  }

  /** Membership and leadership operations, run on the leader (forwarded if need be). */
  async admin(op: AdminOp, deadline: number): Promise<void> {
    this.checkRunning();
    if (!this.isLeader()) {
      const leader = await this.awaitLeader(deadline);
      await this.opts.transport
        .forward(leader, FORWARD_ADMIN, encodeAdminOp(op), this.left(deadline))
        .catch((e: unknown) => {
          throw asMemberError(e, leader);
        });
      return;
    }
    await this.adminOnLeader(op, deadline);
  }

  /** Hands leadership to the best other voter and waits for it to take office (graceful stop). */
  async transferLeadershipAway(timeoutMs: number): Promise<boolean> {
    if (!this.isLeader()) return true;
    const others = this.conf.voters.filter((v) => v !== this.id);
    if (others.length === 0) return false;
    const st = this.node.status();
    let best = others[0] as NodeId;
    let bestMatch = -1;
    for (const v of others) {
      const m = st.progress?.get(v)?.match ?? 0;
      if (m > bestMatch) {
        bestMatch = m;
        best = v;
      }
    }
    this.node.transferLeadership(best);
    this.kick();
    const until = this.opts.clock.monoMs() + timeoutMs;
    while (this.opts.clock.monoMs() < until) {
      if (this.leader !== this.id && this.leader !== NO_NODE) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  // ---------------------------------------------------------------- peer handler

  onMessages(from: NodeId, messages: Uint8Array[]): void {
    if (this.stopped || this.installing || !this.started) return;
    for (const b of messages) {
      let m: Message;
      try {
        m = decodeMessage(b);
      } catch (e) {
        // Per message, e.g. from a member of another version: rate-limited, not one line each.
        this.peerWarn.warn(
          `undecodable-${from}`,
          { from, err: String(e) },
          'dropped an undecodable peer message',
        );
        continue;
      }
      if (m.from !== from) {
        this.peerWarn.warn(
          `sender-${from}`,
          { from, claimed: m.from },
          'dropped a peer message whose sender does not match the stream',
        );
        continue;
      }
      let r: ReturnType<RawNode['step']>;
      try {
        r = this.node.step(m);
      } catch (e) {
        // A broken invariant in the core: stop rather than go on with a corrupt state.
        this.die(e);
        return;
      }
      if (!r.ok) this.log.debug({ from, error: r.error }, 'raft refused a message');
    }
    this.kick();
  }

  async onSnapshot(from: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.checkRunning();
    const r = new ByteReader(header);
    const m = decodeMessage(r.bytes());
    const extra = r.bytes();
    r.end();
    if (m.type !== 'snap' || m.from !== from)
      throw new MemberError('invalidArgument', 'snapshot header is not a snapshot message from its sender');
    const meta: AppliedMeta = {
      index: m.snapshot.meta.index,
      term: m.snapshot.meta.term,
      conf: m.snapshot.meta.conf,
      extra,
    };
    this.log.info({ from, index: meta.index, term: meta.term }, 'receiving snapshot');
    const installer = await this.opts.storage.beginInstall(meta);
    try {
      for await (const c of chunks) await installer.write(c);
    } catch (e) {
      await installer.abort();
      throw e;
    }
    await this.exclusive(async () => {
      if (meta.index <= this.node.status().commit) {
        await installer.abort();
        this.log.info({ index: meta.index }, 'snapshot not newer than the commit index; ignored');
        return;
      }
      if (this.node.termAt(meta.index) === meta.term) {
        // Our log already holds the entry the image ends at (the leader's view of our log was
        // stale, e.g. acknowledgements lost on a broken stream). The core then does not restore
        // the snapshot, it only learns that the entry is committed (etcd's rule), and hands the
        // entries up to it out to be applied. Installing the image anyway would make us skip them
        // as applied, configuration changes included, leaving the core with a configuration that
        // differs from ours and from the address book (chaos finding 1); it would also cut the
        // durable log back to the image's index under entries the core believes stable.
        await installer.abort();
        const st = this.node.step(m);
        if (!st.ok) this.log.warn({ error: st.error }, 'raft refused the snapshot message');
        this.log.info(
          { index: meta.index },
          'snapshot ends at an entry already in the log; applying the log instead',
        );
        return;
      }
      await installer.commit();
      await this.restoreTree();
      this.applied = meta.index;
      this.appliedTerm = meta.term;
      this.conf = meta.conf;
      this.book = decodeAddressBook(extra);
      this.lastCompacted = meta.index;
      // MemoryStorage takes the snapshot when the core hands it back in a Ready (etcd's order):
      // installing it here first would make the core believe it already holds the entry and
      // skip restoring its own log.
      this.stagedSnapshot = meta.index;
      this.opts.transport.setPeers(this.peerAddresses());
      this.proposals.dropUpTo(meta.index);
      this.watches.reset(
        meta.index,
        unavailable(`member restored from a snapshot at revision ${meta.index}; resume the watch`),
      );
      const st = this.node.step(m);
      if (!st.ok) this.log.warn({ error: st.error }, 'raft refused the installed snapshot');
      this.log.info({ index: meta.index }, 'snapshot installed');
      this.metrics.snapshot('installed');
    });
    this.kick();
  }

  async onForward(from: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    this.checkRunning();
    // The transport gives the time the caller has left; cap it so nothing waits forever.
    const deadline = this.opts.clock.monoMs() + Math.min(deadlineMs, 60_000);
    switch (kind) {
      case FORWARD_WRITE:
        return this.onForwardedWrites(decodeWriteBatch(payload), deadline);
      case FORWARD_TOUCH: {
        if (!this.isLeader()) throw notLeader(this.leader);
        const now = this.opts.clock.monoMs();
        const unknown: bigint[] = [];
        for (const id of decodeSessionIds(payload)) {
          const t = this.sessionTimeout(id);
          if (t === undefined || !this.sessions.touch(id, t, now)) unknown.push(id);
        }
        return encodeSessionIds(unknown);
      }
      case FORWARD_ADMIN:
        if (!this.isLeader()) throw notLeader(this.leader);
        await this.adminOnLeader(decodeAdminOp(payload), deadline);
        return new Uint8Array(0);
      default:
        throw new MemberError('invalidArgument', `unknown forward kind '${kind}' from member ${from}`);
    }
  }

  // ---------------------------------------------------------------- the Ready loop

  private kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      if (this.persisting && !this.earlyScheduled) {
        this.earlyScheduled = true;
        setImmediate(() => this.handleEarly());
      }
      return;
    }
    this.pumping = true;
    setImmediate(() => {
      this.pump().catch((e: unknown) => this.die(e));
    });
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        if (this.stopped || this.installing) return;
        this.flushProposals();
        this.flushReads();
        while (this.node.hasReady() && !this.stopped) {
          await this.handleReady(this.node.ready());
        }
      } while (this.again);
    } finally {
      this.pumping = false;
    }
  }

  /** Runs `fn` with the Ready loop paused and incoming Raft messages dropped. */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.pumping || this.installing) await new Promise((r) => setTimeout(r, 1));
    this.installing = true;
    try {
      await this.applyChain;
      await fn();
    } finally {
      this.installing = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    if (rd.snapshot) {
      // The image was installed by onSnapshot (tree, applied index, durable log start); only the
      // in-memory log mirror is left to reset.
      if (rd.snapshot.meta.index !== this.stagedSnapshot) {
        throw new MemberError(
          'internal',
          `raft asked to install snapshot ${rd.snapshot.meta.index} that was not staged`,
        );
      }
      this.mem.applySnapshot({ meta: rd.snapshot.meta, data: new Uint8Array(0) });
      this.mem.setConf(this.conf);
    }
    // A leader's appends go out while it syncs its own copy (the core counts that copy only after
    // advance()), so its fsync overlaps the followers' instead of preceding them.
    if (rd.sendBeforePersist) for (const m of rd.messages) this.sendMessage(m);
    const needPersist = rd.hardState !== undefined || rd.entries.length > 0;
    const persisted = needPersist
      ? this.opts.storage.persist(
          {
            ...(rd.hardState ? { hardState: rd.hardState } : {}),
            entries: rd.entries,
          },
          rd.mustSync,
        )
      : undefined;
    // Applying now is safe: the batch that records it is queued after the log persist above.
    if (rd.committedEntries.length > 0) this.applyEntries(rd.committedEntries);
    if (persisted && !rd.mustSync && !rd.snapshot) {
      // Only the commit index changed: nothing below promises it is on disk, so the loop does not
      // wait behind an fsync in flight. The write still lands in order; a failure stops the member.
      persisted.catch((e: unknown) => this.die(e));
    } else if (persisted) {
      this.persisting = true;
      try {
        await persisted;
      } finally {
        this.persisting = false;
      }
    }
    if (rd.entries.length > 0) this.mem.append(rd.entries);
    if (rd.hardState) this.mem.setHardState(rd.hardState);
    if (!rd.sendBeforePersist) for (const m of rd.messages) this.sendMessage(m);
    for (const rs of rd.readStates) this.reads.onReadState(rs.ctx, rs.index);
    this.node.advance(rd);
    this.reads.serve(this.applied);
  }

  /**
   * Input that arrived while the Ready loop waits for an fsync: commits are applied (and answered),
   * reads served and a leader's appends sent now instead of one fsync later (RawNode
   * readyWhilePersisting). On a leader, queued proposals join the log now, so their appends leave
   * while its previous batch is still being written.
   */
  private handleEarly(): void {
    this.earlyScheduled = false;
    if (!this.persisting || this.stopped || this.installing) return;
    if (this.isLeader()) this.flushProposals();
    this.flushReads();
    const early = this.node.readyWhilePersisting();
    if (early === undefined) return;
    for (const m of early.messages) this.sendMessage(m);
    if (early.committedEntries.length > 0) this.applyEntries(early.committedEntries);
    for (const rs of early.readStates) this.reads.onReadState(rs.ctx, rs.index);
    this.reads.serve(this.applied);
  }

  private applyEntries(entries: readonly Entry[]): void {
    const now = this.opts.clock.monoMs();
    const answers: { d: Deferred<Applied<ApplyValue>>; a: Applied<ApplyValue> }[] = [];
    let confChanged = false;
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      let value: ApplyValue | undefined;
      if (e.type === EntryType.ConfChange) {
        this.applyConfChange(decodeConfChange(e.data));
        confChanged = true;
        value = { kind: 'conf' };
      } else if (e.data.length > 0) {
        const env = decodeEnvelope(e.data);
        const outcome = this.tree.apply(env, e.index);
        value = { kind: 'tree', result: outcome.result };
        if (outcome.events.length > 0) this.watches.publish(outcome.events, e.index, now);
        if (outcome.result.ok) this.afterTreeApply(env.command, outcome.result.value);
      }
      this.applied = e.index;
      this.appliedTerm = e.term;
      const waiter = this.proposals.take(e.index, e.term);
      if (waiter && value) {
        answers.push({ d: waiter, a: { revision: e.index, value } });
        this.metrics.proposalCommitted();
        if (value.kind === 'tree' && !value.result.ok && value.result.error.code === 'outOfOrder')
          this.metrics.writeOutOfOrder();
      }
    }
    this.node.appliedTo(logIndex(this.applied));
    const meta = this.appliedMetaNow();
    const changes = this.tree.takeChanges();
    const written = this.opts.storage.commitApply(meta, changes);
    const applied = this.applied;
    // Answer now: what makes the write durable is its log entry, already on a quorum's disks.
    // The tree's own records follow unsynced (a crash replays the log above them; the log is
    // compacted only by a synced batch queued after them).
    for (const { d, a } of answers) d.resolve(a);
    this.releaseAppliedWaiters(applied);
    this.applyChain = this.applyChain
      .then(() => written)
      .then(() => {
        this.metrics.applyLatency((this.opts.clock.monoMs() - now) / 1000);
        this.maybeCompact(applied);
      });
    this.applyChain.catch((e: unknown) => this.die(e));
    if (confChanged) this.opts.transport.setPeers(this.peerAddresses());
  }

  /** Keeps the leader's liveness table in step with the sessions the tree knows. */
  private afterTreeApply(cmd: Command, result: CommandResult): void {
    if (!this.isLeader()) return;
    if (cmd.type === 'openSession' && result.type === 'openSession') {
      this.sessions.opened(result.sessionId, result.timeoutMs, this.opts.clock.monoMs());
    } else if (cmd.type === 'closeSession') {
      this.sessions.closed(cmd.sessionId);
    } else if (cmd.type === 'expireSessions') {
      for (const id of cmd.sessionIds) this.sessions.closed(id);
    }
  }

  private applyConfChange(cc: ConfChange): void {
    this.conf = this.node.applyConfChange(cc);
    this.mem.setConf(this.conf);
    this.encodedBook = undefined;
    if (cc.type === 'removeNode') this.book.delete(cc.nodeId);
    else if (cc.context.length > 0) {
      const info = decodeMemberInfo(cc.context);
      this.book.set(info.id, info);
    }
    this.log.info(
      { change: cc.type, node: cc.nodeId, voters: this.conf.voters, learners: this.conf.learners },
      'membership changed',
    );
  }

  /** The address book as stored with every apply batch, encoded again only when it changed. */
  private bookBytes(): Uint8Array {
    if (this.encodedBook?.book !== this.book)
      this.encodedBook = { book: this.book, bytes: encodeAddressBook(this.book) };
    return this.encodedBook.bytes;
  }

  private appliedMetaNow(): AppliedMeta {
    return {
      index: logIndex(this.applied),
      term: this.appliedTerm,
      conf: this.conf,
      extra: this.bookBytes(),
    };
  }

  private onSoftState(leader: NodeId, role: Role): void {
    const wasLeader = this.role === 'leader';
    if (leader !== this.leader)
      this.log.info({ leader, role, term: this.node.status().term }, 'leader changed');
    this.metrics.leaderChanged();
    this.leader = leader;
    this.role = role;
    if (role === 'leader' && !wasLeader) {
      // A new leader cannot know when sessions were last heard from: a fresh full timeout each.
      this.sessions.reset(
        this.tree.sessions().map((x) => ({ id: x.sessionId, timeoutMs: x.timeoutMs })),
        this.opts.clock.monoMs(),
      );
    } else if (role !== 'leader' && wasLeader) {
      this.sessions.clear();
      // Queued (not yet proposed) writes must now go to the new leader, in the same order.
      const queued = this.proposeQueue;
      this.proposeQueue = [];
      for (const q of queued) this.rerouteToForward(q);
    }
    if (leader !== NO_NODE) this.pumpForwards();
  }

  private sendMessage(m: Message): void {
    if (m.type === 'snap') {
      this.sendSnapshot(m);
      return;
    }
    this.opts.transport.send(m.to, encodeMessage(m));
  }

  /** Streams the current applied state (a consistent LevelDB view) in place of the core's empty image. */
  private sendSnapshot(m: Extract<Message, { type: 'snap' }>): void {
    if (this.snapshotsInFlight.has(m.to)) return;
    this.snapshotsInFlight.add(m.to);
    const to = m.to;
    const run = async (): Promise<void> => {
      const reader = await this.opts.storage.openSnapshot();
      try {
        const msg: Message = {
          ...m,
          snapshot: {
            meta: {
              index: reader.meta.index,
              term: reader.meta.term as Message['term'],
              conf: reader.meta.conf,
            },
            data: new Uint8Array(0),
          },
        };
        const header = new ByteWriter(256)
          .bytes(encodeMessage(msg))
          .bytes(reader.meta.extra ?? new Uint8Array(0))
          .finish();
        this.log.info({ to, index: reader.meta.index }, 'sending snapshot');
        await this.opts.transport.sendSnapshot(to, header, reader.chunks());
      } finally {
        await reader.close();
      }
    };
    run()
      .then(() => {
        this.node.reportSnapshot(to, true);
        this.log.info({ to }, 'snapshot sent');
        this.metrics.snapshot('sent');
      })
      .catch((e: unknown) => {
        this.node.reportSnapshot(to, false);
        this.log.warn({ to, err: String(e) }, 'snapshot send failed');
      })
      .finally(() => {
        this.snapshotsInFlight.delete(to);
        this.kick();
      });
  }

  private maybeCompact(applied: number): void {
    if (this.compacting || applied - this.lastCompacted < this.opts.snapshotEntries) return;
    this.compactTo(applied - this.opts.catchUpEntries).catch((e: unknown) => this.die(e));
  }

  /** Drops the log up to `upTo` (<= the durable applied index); later readers get snapshots. */
  private async compactTo(upTo: number): Promise<void> {
    if (this.compacting || upTo <= this.lastCompacted) return;
    this.compacting = true;
    try {
      this.mem.createSnapshot(logIndex(upTo), this.conf, new Uint8Array(0));
      this.mem.compact(logIndex(upTo));
      await this.opts.storage.compactLog(logIndex(upTo));
      this.lastCompacted = upTo;
      this.log.info({ upTo, applied: this.applied }, 'log compacted');
      this.metrics.snapshot('created');
    } finally {
      this.compacting = false;
    }
  }

  // ---------------------------------------------------------------- writes

  private isLeader(): boolean {
    return this.role === 'leader';
  }

  private proposeLocal(data: Uint8Array, deadline: number): Promise<Applied<ApplyValue>> {
    const d = deferred<Applied<ApplyValue>>();
    this.proposeQueue.push({ data, d, deadline });
    this.kick();
    return d.promise;
  }

  private flushProposals(): void {
    if (this.proposeQueue.length === 0) return;
    const batch = this.proposeQueue;
    this.proposeQueue = [];
    const now = this.opts.clock.monoMs();
    const live = batch.filter((q) => {
      if (q.deadline > now) return true;
      this.metrics.proposalFailed('deadline');
      q.d.reject(
        new MemberError(
          'deadlineExceeded',
          'the deadline passed before the write was proposed; it was not applied',
        ),
      );
      return false;
    });
    if (live.length === 0) return;
    const r = this.node.propose(live.map((q) => q.data));
    if (!r.ok) {
      if (r.error.type === 'notLeader' || r.error.type === 'transferring') {
        if (this.isLeader()) {
          // Still leader but not taking proposals (a leadership transfer, or removed from the
          // configuration): hold them, in order, until the next tick or the next leader. Re-routing
          // them now would only bounce them straight back here.
          this.proposeQueue = live.concat(this.proposeQueue);
          return;
        }
        for (const q of live) this.rerouteToForward(q);
        return;
      }
      this.metrics.proposalFailed(r.error.type);
      const err = new MemberError('unavailable', `the leader refused the write: ${r.error.type}`, {
        leaderHint: this.leader,
      });
      for (const q of live) q.d.reject(err);
      return;
    }
    const { term, firstIndex } = r.value;
    live.forEach((q, i) => this.proposals.add(firstIndex + i, term, q.d, q.deadline));
  }

  /** A write queued for local proposal that must now go to another leader, keeping its order. */
  private rerouteToForward(q: QueuedWrite): void {
    const d = deferred<WriteItemResult>();
    this.forwardQueue.push({ data: q.data, d, deadline: q.deadline, seq: this.forwardSeq++ });
    d.promise.then(
      (item) => {
        if (!item.ok) return q.d.reject(item.error);
        const result = decodeResult(item.result);
        q.d.resolve({ revision: item.revision, value: { kind: 'tree', result } });
      },
      (e: unknown) => q.d.reject(e),
    );
    this.pumpForwards();
  }

  private forwardWrite(data: Uint8Array, deadline: number): Promise<WriteItemResult> {
    const d = deferred<WriteItemResult>();
    this.forwardQueue.push({ data, d, deadline, seq: this.forwardSeq++ });
    this.pumpForwards();
    return d.promise;
  }

  /**
   * Sends queued writes to the leader in batches, up to `forwardsInFlight` batches at once. The
   * transport delivers them in order and the leader proposes each batch as it arrives, so each
   * client's pipelined writes keep their order through forwarding; whatever arrives while the
   * window is full is batched. (Should a refused batch be re-sent behind a later one that did
   * apply, the tree's per-client order check answers the late writes ABORTED: not applied,
   * retryable — never applied out of order.)
   */
  private pumpForwards(): void {
    if (this.forwardQueue.length === 0 || this.stopped) return;
    if (this.isLeader()) {
      // Writes forwarded earlier must be settled first, or local proposals could overtake them.
      if (this.forwarding > 0) return;
      // Leadership came here: propose locally, in order.
      const items = this.forwardQueue;
      this.forwardQueue = [];
      for (const it of items) {
        this.proposeLocal(it.data, it.deadline).then(
          (a) => {
            if (a.value.kind !== 'tree')
              return it.d.reject(new MemberError('internal', 'unexpected conf result'));
            it.d.resolve({
              ok: true,
              revision: a.revision,
              result: a.value.encoded ?? encodeResult(a.value.result),
            });
          },
          (e: unknown) => it.d.reject(e),
        );
      }
      return;
    }
    const leader = this.leader;
    if (leader === NO_NODE) return; // resumed by onSoftState when a leader is known, or expired by the tick
    while (this.forwardQueue.length > 0 && this.forwarding < (this.opts.forwardsInFlight ?? 1)) {
      this.forwardBatch(leader);
    }
  }

  private forwardBatch(leader: NodeId): void {
    const now = this.opts.clock.monoMs();
    const batch = this.forwardQueue.splice(0, MAX_FORWARD_BATCH);
    const deadline = Math.max(...batch.map((b) => b.deadline));
    if (deadline <= now) {
      for (const b of batch)
        b.d.reject(
          new MemberError(
            'deadlineExceeded',
            'no leader was reachable before the deadline; the write was not applied',
          ),
        );
      return;
    }
    this.forwarding++;
    this.opts.transport
      .forward(leader, FORWARD_WRITE, encodeWriteBatch(batch.map((b) => b.data)), this.left(deadline))
      .then(
        (payload) => {
          const results = decodeWriteResults(payload);
          batch.forEach((b, i) => {
            const r = results[i];
            if (r) b.d.resolve(r);
            else
              b.d.reject(new MemberError('internal', 'the leader answered fewer writes than were forwarded'));
          });
        },
        (e: unknown) => {
          const err = asMemberError(e, leader);
          if (err.code === 'notLeader') {
            // Definitely not proposed there: try again with whoever leads next, in arrival order.
            this.forwardQueue = [...batch, ...this.forwardQueue].sort((a, b) => a.seq - b.seq);
            return;
          }
          const unknown =
            err.code === 'unavailable' || err.code === 'deadlineExceeded'
              ? new MemberError(
                  'outcomeUnknown',
                  `forwarding to leader ${leader} failed (${err.message}); the write may or may not apply`,
                  { leaderHint: leader },
                )
              : err;
          for (const b of batch) b.d.reject(unknown);
        },
      )
      .finally(() => {
        this.forwarding--;
        if (this.forwardQueue.length === 0) return;
        // Same leader: send what queued meanwhile at once; a new one: give it a moment.
        if (this.leader === leader) this.pumpForwards();
        else setTimeout(() => this.pumpForwards(), 1);
      });
  }

  private async onForwardedWrites(datas: Uint8Array[], deadline: number): Promise<Uint8Array> {
    if (!this.isLeader()) throw notLeader(this.leader);
    const now = this.opts.clock.nowMs();
    // The leader fixes the time of every command before replication (ZooKeeper's prep step).
    const promises = datas.map((raw) => {
      const env = decodeEnvelope(raw);
      return this.proposeLocal(encodeEnvelope({ ...env, timeMs: now }), deadline);
    });
    const settled = await Promise.allSettled(promises);
    const items: WriteItemResult[] = settled.map((s) => {
      if (s.status === 'fulfilled') {
        const v = s.value.value;
        if (v.kind !== 'tree')
          return { ok: false, error: new MemberError('internal', 'unexpected conf result') };
        return { ok: true, revision: s.value.revision, result: v.encoded ?? encodeResult(v.result) };
      }
      return { ok: false, error: asMemberError(s.reason, this.leader) };
    });
    return encodeWriteResults(items);
  }

  // ---------------------------------------------------------------- reads, sessions, admin

  private flushReads(): void {
    const now = this.opts.clock.monoMs();
    const retryMs = this.opts.tickMs * this.opts.electionTicks;
    const ctx = this.reads.startBatch(now, retryMs);
    if (ctx) this.requestReadIndex(ctx);
    for (const c of this.reads.retries(now, retryMs)) this.requestReadIndex(c);
  }

  private requestReadIndex(ctx: Uint8Array): void {
    const r = this.node.readIndex(ctx);
    if (!r.ok) this.log.debug({ error: r.error }, 'read index refused; will retry');
  }

  private waitApplied(rev: number, deadline: number): Promise<void> {
    if (this.applied >= rev) return Promise.resolve();
    const d = deferred<void>();
    this.appliedWaiters.push({ rev, d });
    const left = deadline - this.opts.clock.monoMs();
    const t = setTimeout(
      () =>
        d.reject(
          new MemberError(
            'outcomeUnknown',
            `the write applied at revision ${rev} on the leader but this member has not caught up before the deadline`,
          ),
        ),
      Math.max(0, left),
    );
    return d.promise.finally(() => clearTimeout(t));
  }

  private releaseAppliedWaiters(applied: number): void {
    if (this.appliedWaiters.length === 0) return;
    const keep: { rev: number; d: Deferred<void> }[] = [];
    for (const w of this.appliedWaiters) {
      if (w.rev <= applied) w.d.resolve();
      else keep.push(w);
    }
    this.appliedWaiters = keep;
  }

  private kickTouch(deadline: number): void {
    if (this.touching || this.touchQueue.size === 0) return;
    const leader = this.leader;
    if (leader === NO_NODE || this.isLeader()) {
      // Retry on the next tick; the leader (maybe us) will be known by then.
      return;
    }
    this.touching = true;
    const batch = this.touchQueue;
    this.touchQueue = new Map();
    this.opts.transport
      .forward(leader, FORWARD_TOUCH, encodeSessionIds([...batch.keys()]), this.left(deadline))
      .then(
        (payload) => {
          const unknown = new Set(decodeSessionIds(payload));
          for (const [id, ds] of batch) for (const d of ds) d.resolve(!unknown.has(id));
        },
        (e: unknown) => {
          const err = asMemberError(e, leader);
          for (const ds of batch.values()) for (const d of ds) d.reject(err);
        },
      )
      .finally(() => {
        this.touching = false;
        if (this.touchQueue.size > 0) this.kickTouch(this.opts.clock.monoMs() + 5000);
      });
  }

  private async adminOnLeader(op: AdminOp, deadline: number): Promise<void> {
    switch (op.type) {
      case 'addMember': {
        if (this.book.has(nodeId(op.id)) || this.conf.voters.includes(nodeId(op.id))) {
          throw new MemberError('alreadyExists', `member ${op.id} is already in the cluster`);
        }
        const info: MemberInfo = {
          id: nodeId(op.id),
          name: op.name,
          peerUrl: op.peerUrl,
          clientUrl: op.clientUrl,
        };
        // A new member must start from a snapshot, never from index 1: the founding configuration
        // lives in the bootstrap state, not in the log, so replaying the log alone would give the
        // newcomer a wrong view of who votes. Compacting up to the durable applied index
        // guarantees the leader sends a snapshot first.
        await this.applyChain;
        await this.compactTo(this.applied);
        await this.proposeConf(
          {
            type: op.asLearner ? 'addLearner' : 'addVoter',
            nodeId: nodeId(op.id),
            context: encodeMemberInfo(info),
          },
          deadline,
        );
        return;
      }
      case 'promoteMember': {
        if (!this.conf.learners.includes(nodeId(op.id))) {
          throw new MemberError('failedPrecondition', `member ${op.id} is not a learner`);
        }
        const st = this.node.status();
        const match = st.progress?.get(nodeId(op.id))?.match ?? 0;
        if (match + 1000 < st.commit) {
          throw new MemberError(
            'failedPrecondition',
            `learner ${op.id} has not caught up yet (at ${match} of ${st.commit}); try again shortly`,
          );
        }
        const info = this.book.get(nodeId(op.id));
        await this.proposeConf(
          {
            type: 'promoteLearner',
            nodeId: nodeId(op.id),
            context: info ? encodeMemberInfo(info) : new Uint8Array(0),
          },
          deadline,
        );
        return;
      }
      case 'removeMember': {
        const id = nodeId(op.id);
        if (!this.conf.voters.includes(id) && !this.conf.learners.includes(id)) {
          throw new MemberError('notFound', `member ${op.id} is not in the cluster`);
        }
        if (id === this.id) {
          // Removing the leader: hand leadership over first, then let the new leader remove us.
          const moved = await this.transferLeadershipAway(Math.max(0, deadline - this.opts.clock.monoMs()));
          if (!moved) throw unavailable('could not transfer leadership before removing the leader');
          await this.admin(op, deadline);
          return;
        }
        await this.proposeConf({ type: 'removeNode', nodeId: id, context: new Uint8Array(0) }, deadline);
        return;
      }
      case 'transferLeader': {
        const target = op.target === 0 ? undefined : nodeId(op.target);
        if (target !== undefined && !this.conf.voters.includes(target)) {
          throw new MemberError('invalidArgument', `member ${op.target} is not a voter`);
        }
        if (target === this.id) return;
        if (target === undefined) {
          if (!(await this.transferLeadershipAway(Math.max(0, deadline - this.opts.clock.monoMs())))) {
            throw unavailable('leadership transfer did not complete before the deadline');
          }
          return;
        }
        this.node.transferLeadership(target);
        this.kick();
        while (this.opts.clock.monoMs() < deadline) {
          if (this.leader === target) return;
          await new Promise((r) => setTimeout(r, 20));
        }
        throw unavailable('leadership transfer did not complete before the deadline', this.leader);
      }
    }
  }

  private async proposeConf(cc: ConfChange, deadline: number): Promise<void> {
    let r = this.node.proposeConfChange(cc);
    // The previous change (or a new leader's first entry) is committed but not yet applied here,
    // typically for a moment only: its answer goes out as soon as it applies, before the Ready
    // that applied it completes. Wait for it rather than refuse, until the deadline.
    while (!r.ok && r.error.type === 'confChangePending' && this.opts.clock.monoMs() < deadline - 5) {
      await new Promise((res) => setTimeout(res, 5));
      if (this.stopped) throw unavailable('member stopped');
      r = this.node.proposeConfChange(cc);
    }
    if (!r.ok) {
      const e = r.error;
      if (e.type === 'notLeader' || e.type === 'transferring') throw notLeader(this.leader);
      throw new MemberError(
        'failedPrecondition',
        `membership change refused: ${describeProposeError(e.type)}`,
      );
    }
    const d = deferred<Applied<ApplyValue>>();
    this.proposals.add(r.value.index, r.value.term, d, deadline);
    this.kick();
    await d.promise;
  }

  private awaitLeader(deadline: number): Promise<NodeId> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.leader !== NO_NODE) return resolve(this.leader);
        if (this.opts.clock.monoMs() >= deadline || this.stopped)
          return reject(unavailable('no leader is known; the cluster may have lost its quorum'));
        setTimeout(check, 10);
      };
      check();
    });
  }

  // ---------------------------------------------------------------- time

  private onTick(): void {
    if (this.stopped) return;
    this.node.tick();
    this.tickCount++;
    const now = this.opts.clock.monoMs();
    this.proposals.expire(now);
    this.reads.expire(now);
    for (const f of this.forwardQueue.filter((f) => f.deadline <= now)) {
      f.d.reject(
        new MemberError(
          'deadlineExceeded',
          'no leader was reachable before the deadline; the write was not applied',
        ),
      );
    }
    this.forwardQueue = this.forwardQueue.filter((f) => f.deadline > now);
    if (this.touchQueue.size > 0) this.kickTouch(now + 5000);
    if (this.forwardQueue.length > 0) this.pumpForwards();
    if (this.isLeader()) this.leaderHousekeeping(now);
    // Idle watchers learn the revision they are current at, checked a few times per interval.
    const progressMs = this.opts.watch?.progressMs ?? 10_000;
    const every = Math.max(1, Math.round(Math.min(1000, progressMs / 4) / this.opts.tickMs));
    if (this.tickCount % every === 0) this.watches.progress(this.applied, now, progressMs);
    this.kick();
  }

  private leaderHousekeeping(now: number): void {
    if (!this.expireInFlight) {
      const expired = this.sessions.takeExpired(now, 1000);
      if (expired.length > 0) {
        this.expireInFlight = true;
        this.log.info({ sessions: expired.map(String) }, 'expiring sessions');
        this.proposeLocal(
          encodeEnvelope({
            timeMs: this.opts.clock.nowMs(),
            command: { type: 'expireSessions', sessionIds: expired as SessionId[] },
          }),
          now + 10_000,
        )
          .catch(() => this.sessions.retry(expired))
          .finally(() => {
            this.expireInFlight = false;
          });
      }
    }
    // TTL nodes and empty containers, about once a second.
    if (!this.sweepInFlight && this.tickCount % Math.max(1, Math.round(1000 / this.opts.tickMs)) === 0) {
      const targets = this.tree.findSweepTargets(this.opts.clock.nowMs());
      if (targets.length > 0) {
        this.sweepInFlight = true;
        this.proposeLocal(
          encodeEnvelope({
            timeMs: this.opts.clock.nowMs(),
            command: { type: 'sweep', targets: targets.slice(0, 1000) },
          }),
          now + 10_000,
        )
          .catch(() => undefined)
          .finally(() => {
            this.sweepInFlight = false;
          });
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private peerAddresses(): Map<NodeId, string> {
    const m = new Map<NodeId, string>();
    for (const [id, info] of this.book) if (id !== this.id) m.set(id, info.peerUrl);
    return m;
  }

  /** Milliseconds left until a monotonic deadline (the transport takes relative deadlines). */
  private left(deadline: number): number {
    return Math.max(0, deadline - this.opts.clock.monoMs());
  }

  /**
   * Rebuilds the tree from storage one read batch at a time: the records of a large tree are
   * garbage as soon as their znodes exist, instead of all being held (and promoted to the old
   * generation) until the last one is read.
   */
  private async restoreTree(): Promise<void> {
    this.tree.beginRestore();
    for await (const batch of this.opts.storage.readRecordBatches()) this.tree.restoreRecords(batch);
    this.tree.finishRestore();
  }

  private checkRunning(): void {
    if (this.fatal)
      throw new MemberError('internal', `the member stopped after a fatal error: ${this.fatal.message}`);
    if (this.stopped) throw unavailable('the member is shutting down', this.leader);
    if (!this.started) throw unavailable('the member is still starting (restoring its state)');
  }

  private die(e: unknown): void {
    if (this.fatal) return;
    this.fatal = e instanceof Error ? e : new Error(String(e));
    this.log.error({ err: this.fatal }, 'fatal error in the member; stopping');
    void this.stop();
    this.onFatal(this.fatal);
  }
}

const notLeader = (leader: number): MemberError =>
  new MemberError(
    'notLeader',
    `this member is not the leader (leader: ${leader || 'unknown'}); the request was not applied`,
    { leaderHint: leader },
  );

function describeProposeError(t: string): string {
  switch (t) {
    case 'confChangePending':
      return 'another membership change is still in progress; retry when it has applied';
    default:
      return t;
  }
}

export function asMemberError(e: unknown, leaderHint: number): MemberError {
  if (e instanceof MemberError) return e;
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  return memberErrorFromGrpc(typeof code === 'number' ? code : 14, message, leaderHint);
}
