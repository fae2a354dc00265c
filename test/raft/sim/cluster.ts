/**
 * A deterministic in-process cluster: each SimNode plays the server (persist, send, apply,
 * advance) around a RawNode; durable state is a MemoryStorage plus the state machine, updated only
 * when a Ready is handled, so a crash loses exactly what was not yet handled. Every handled Ready
 * and every step is checked against the Raft safety properties (Figure 3 of the paper).
 */
import { decodeConfChange } from '../../../src/raft/conf-change.js';
import { MemoryStorage } from '../../../src/raft/memory-storage.js';
import type { Message } from '../../../src/raft/messages.js';
import { RawNode } from '../../../src/raft/raw-node.js';
import type { RaftConfig, Ready } from '../../../src/raft/raw-node.js';
import { EntryType } from '../../../src/raft/types.js';
import type { ConfChange, ConfState, Entry, Snapshot } from '../../../src/raft/types.js';
import type { LogIndex, NodeId, Term } from '../../../src/util/brand.js';
import { seededRng } from '../../../src/util/rng.js';
import type { Rng } from '../../../src/util/rng.js';
import { SimNetwork } from './network.js';
import type { NetOptions } from './network.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export class SafetyError extends Error {
  override readonly name = 'SafetyError';
}

function fail(msg: string): never {
  throw new SafetyError(msg);
}

function entryKey(e: Entry): string {
  return `${e.term}:${e.type}:${e.type === EntryType.ConfChange ? Array.from(e.data).join('.') : dec.decode(e.data)}`;
}

function mix(h: number, key: string): number {
  let x = h ^ 0x9e3779b9;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 16777619);
  return x >>> 0;
}

/** The durable state machine of a member: a running digest of applied entries (like a tree digest). */
interface StateMachine {
  applied: number;
  hash: number;
  conf: ConfState;
}

interface PendingRead {
  ctx: string;
  /** Highest index applied anywhere when the read was issued: a linearizable read must see it. */
  minIndex: number;
  index?: number;
}

export class SimNode {
  raw: RawNode | undefined;
  sm: StateMachine;
  /** Set once the member applied its own removal: it shuts down for good. */
  removed = false;
  reads: PendingRead[] = [];
  servedReads = 0;
  /** Commit index last seen in memory (reset on restart) and the last persisted one. */
  seenCommit = 0;
  persistedCommit = 0;
  /**
   * A Ready whose messages went out before its persist finished (sendBeforePersist): the slow
   * fsync of a real leader. It completes on a later turn; a crash first loses it.
   */
  inFlight: Ready | undefined = undefined;

  constructor(
    readonly id: number,
    readonly storage: MemoryStorage,
    conf: ConfState,
  ) {
    this.sm = { applied: 0, hash: 0, conf };
  }

  get alive(): boolean {
    return this.raw !== undefined;
  }
}

export interface ClusterOptions {
  seed: number;
  voters: readonly number[];
  learners?: readonly number[];
  cfg?: Partial<Omit<RaftConfig, 'id'>>;
  net?: NetOptions;
  /** Compact the log when more than this many applied entries are held (0: never). */
  snapshotEvery?: number;
  /** Entries kept after compaction (so slightly-behind followers still get appends). */
  snapshotKeep?: number;
  /** Probability that a snapshot message carries a newer image than the core planned. */
  laterSnapshot?: number;
}

export class SimCluster {
  readonly nodes = new Map<number, SimNode>();
  readonly net: SimNetwork;
  readonly rng: Rng;
  now = 0;
  readonly log: string[] = [];
  private readonly cfg: Omit<RaftConfig, 'id'>;
  private readonly opts: ClusterOptions;

  // ---- global history for the safety checks
  /** index -> key of the entry applied there (State Machine Safety). */
  readonly appliedAt = new Map<number, string>();
  /** index -> state digest after applying it. */
  readonly hashAt = new Map<number, number>();
  maxApplied = 0;
  /** term -> the one leader of that term (Election Safety). */
  readonly leaderOf = new Map<number, number>();
  /** "index/term" -> entry key seen in any persisted log (Log Matching). */
  private readonly logKeys = new Map<string, string>();
  /** Client writes acknowledged (applied somewhere): data -> index. */
  readonly acked = new Map<string, number>();
  private readonly checkedLeaders = new Set<string>();
  private nextData = 0;
  private nextCtx = 0;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.rng = seededRng(opts.seed);
    this.net = new SimNetwork(
      seededRng(opts.seed ^ 0x5bd1e995),
      opts.net ?? { drop: 0, dup: 0, maxDelay: 1 },
    );
    this.net.onSnapDropped = (m) => this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, false);
    this.cfg = {
      electionTick: 10,
      heartbeatTick: 2,
      maxSizePerMsg: 1024,
      maxInflightMsgs: 4,
      preVote: true,
      checkQuorum: true,
      ...opts.cfg,
    };
    const conf: ConfState = {
      voters: opts.voters.map((v) => v as NodeId),
      learners: (opts.learners ?? []).map((v) => v as NodeId),
    };
    for (const id of [...conf.voters, ...conf.learners]) this.createNode(id, conf, true);
    // Like a real server at start-up: apply the committed bootstrap entries.
    this.handleAll();
  }

  private createNode(id: number, conf: ConfState, founding = false): SimNode {
    let storage: MemoryStorage;
    if (founding) {
      // Founding members: the configuration is in the log (bootstrapState); learners are added
      // straight into the stored configuration for scenario tests.
      storage = MemoryStorage.bootstrap(conf.voters);
      storage.setConf(conf);
    } else storage = new MemoryStorage(conf);
    const n = new SimNode(id, storage, conf);
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  /** A brand-new member (to be added by a conf change): empty log, empty configuration. */
  addFreshNode(id: number): SimNode {
    const existing = this.nodes.get(id);
    if (existing !== undefined) return existing;
    return this.createNode(id, { voters: [], learners: [] });
  }

  private start(n: SimNode): void {
    const cfg: RaftConfig = { ...this.cfg, id: n.id as NodeId };
    if (n.sm.applied > 0) cfg.applied = n.sm.applied as LogIndex;
    n.raw = new RawNode(cfg, n.storage, seededRng(this.opts.seed * 31 + n.id * 7919));
    n.seenCommit = n.storage.initialState().hardState.commit;
    n.reads = [];
  }

  node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: number): RawNode {
    const r = this.node(id).raw;
    if (r === undefined) throw new Error(`node ${id} is down`);
    return r;
  }

  ids(): number[] {
    return [...this.nodes.keys()];
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  // ---------------------------------------------------------------- faults

  crash(id: number): void {
    const n = this.node(id);
    n.raw = undefined; // unhandled Ready state (unstable entries, outbox) is lost
    // ...and so may be a persist still in flight, unless applies written after it survive (this
    // model keeps the state machine, as a member keeps its applied tree: the log write is first).
    const rd = n.inFlight;
    if (rd !== undefined && (n.sm.applied > n.storage.lastIndex() || this.rng.float() < 0.5))
      this.persistReady(n, rd);
    n.inFlight = undefined;
    n.reads = [];
    this.log.push(`${this.now} crash ${id}`);
  }

  restart(id: number): void {
    const n = this.node(id);
    if (n.alive || n.removed) return;
    this.start(n);
    this.log.push(`${this.now} restart ${id}`);
  }

  // ---------------------------------------------------------------- driving

  /** One simulated time step: tick (with slight per-node jitter), deliver due messages, handle Readys. */
  step(tickProb = 1): void {
    this.now++;
    for (const n of this.live()) if (tickProb >= 1 || this.rng.float() < tickProb) n.raw?.tick();
    this.deliver(this.net.takeDue(this.now));
    this.handleAll();
    this.check();
  }

  deliver(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const to = this.nodes.get(m.to);
      const from = this.nodes.get(m.from);
      if (to?.raw === undefined) {
        if (m.type === 'snap') from?.raw?.reportSnapshot(m.to, false);
        continue;
      }
      to.raw.step(m);
      if (m.type === 'snap') from?.raw?.reportSnapshot(m.to, true);
    }
  }

  handleAll(): void {
    for (const n of this.nodes.values()) {
      const rd = n.inFlight;
      if (rd !== undefined) {
        if (this.rng.float() < 0.5) {
          // A slow disk, still syncing: what the server may handle meanwhile.
          this.handleEarly(n);
          continue;
        }
        n.inFlight = undefined;
        this.finishReady(n, rd, rd.sendBeforePersist, true);
      }
      while (n.raw?.hasReady() === true) this.handleReady(n);
    }
  }

  /** Scenario helper: deliver everything and handle every Ready until nothing moves. */
  stabilize(maxRounds = 200): void {
    for (let i = 0; i < maxRounds; i++) {
      this.handleAll();
      if (this.net.size === 0 && this.live().every((n) => n.inFlight === undefined)) {
        this.check();
        return;
      }
      this.deliver(this.net.takeAll());
    }
    throw new Error('stabilize: did not converge');
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      this.now++;
      for (const n of this.live()) n.raw?.tick();
    }
  }

  /** Ticks `id` until it starts an election, then stabilizes. */
  campaign(id: number): void {
    this.raw(id).campaign();
    this.stabilize();
  }

  leader(): number | undefined {
    let best: { id: number; term: number } | undefined;
    for (const n of this.live()) {
      const s = n.raw?.status();
      if (s?.role === 'leader' && (best === undefined || s.term > best.term))
        best = { id: n.id, term: s.term };
    }
    return best?.id;
  }

  newData(): Uint8Array {
    return enc.encode(`d${this.nextData++}`);
  }

  propose(id: number, count = 1): ReturnType<RawNode['propose']> {
    const datas: Uint8Array[] = [];
    for (let i = 0; i < count; i++) datas.push(this.newData());
    return this.raw(id).propose(datas);
  }

  proposeConfChange(id: number, cc: Omit<ConfChange, 'context'>): ReturnType<RawNode['proposeConfChange']> {
    return this.raw(id).proposeConfChange({ ...cc, context: new Uint8Array(0) });
  }

  readIndex(id: number): ReturnType<RawNode['readIndex']> {
    const n = this.node(id);
    const ctx = `r${this.nextCtx++}`;
    const res = this.raw(id).readIndex(enc.encode(ctx));
    if (res.ok) n.reads.push({ ctx, minIndex: this.maxApplied });
    return res;
  }

  // ---------------------------------------------------------------- the "server"

  private handleReady(n: SimNode): void {
    const raw = n.raw as RawNode;
    const rd: Ready = raw.ready();
    const persists = rd.entries.length > 0 || rd.hardState !== undefined;
    if (persists && rd.snapshot === undefined && this.rng.float() < 0.5) {
      // The fsync completes in a later turn. As in the server: a leader's appends leave before
      // it, committed entries are applied at once (their apply is written after the log).
      if (rd.sendBeforePersist)
        for (const m of rd.messages) this.net.send(this.maybeLaterSnapshot(n, m), this.now);
      if (this.applyCommitted(n, rd.committedEntries)) return;
      n.inFlight = rd;
      return;
    }
    this.finishReady(n, rd, false, false);
  }

  /** Input handled while n's persist is in flight (RawNode.readyWhilePersisting). */
  private handleEarly(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const early = raw.readyWhilePersisting();
    if (early === undefined) return;
    for (const m of early.messages) this.net.send(this.maybeLaterSnapshot(n, m), this.now);
    if (this.applyCommitted(n, early.committedEntries)) return;
    const last = early.committedEntries[early.committedEntries.length - 1];
    if (last !== undefined) raw.appliedTo(last.index);
    this.takeReadStates(n, early.readStates);
    this.serveReads(n);
  }

  /** Applies entries in order; true when n applied its own removal and shut down. */
  private applyCommitted(n: SimNode, entries: readonly Entry[]): boolean {
    const raw = n.raw as RawNode;
    let removedSelf = false;
    for (const e of entries) {
      if (e.index !== n.sm.applied + 1) fail(`node ${n.id}: applying ${e.index} after ${n.sm.applied}`);
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        const conf = raw.applyConfChange(cc);
        n.storage.setConf(conf);
        n.sm.conf = conf;
        if (cc.type === 'removeNode' && cc.nodeId === n.id) removedSelf = true;
        this.log.push(
          `${this.now} node ${n.id} applied ${cc.type} ${cc.nodeId} -> ${conf.voters.join(',')}|${conf.learners.join(',')}`,
        );
      }
      this.applyEntry(n, e);
    }
    if (removedSelf) {
      // The server shuts down once it has applied its own removal.
      n.removed = true;
      n.raw = undefined;
      n.inFlight = undefined;
      this.log.push(`${this.now} node ${n.id} removed, shutting down`);
    }
    return removedSelf;
  }

  private takeReadStates(n: SimNode, readStates: Ready['readStates']): void {
    for (const rs of readStates) {
      const ctx = dec.decode(rs.ctx);
      const r = n.reads.find((x) => x.ctx === ctx);
      if (r !== undefined && r.index === undefined) r.index = rs.index;
    }
  }

  private finishReady(n: SimNode, rd: Ready, sent: boolean, applied: boolean): void {
    const raw = n.raw as RawNode;
    this.persistReady(n, rd);
    // 2. send (only now that the above is durable)
    if (!sent) for (const m of rd.messages) this.net.send(this.maybeLaterSnapshot(n, m), this.now);
    // 3. apply
    if (!applied && this.applyCommitted(n, rd.committedEntries)) return;
    this.takeReadStates(n, rd.readStates);
    raw.advance(rd);
    this.serveReads(n);
    this.maybeCompact(n);
  }

  /** Step 1 of a Ready: the snapshot, entries and hard state become durable. */
  private persistReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) this.installSnapshot(n, rd.snapshot);
    if (rd.entries.length > 0) {
      for (const e of rd.entries) {
        const k = `${e.index}/${e.term}`;
        const key = entryKey(e);
        const prev = this.logKeys.get(k);
        if (prev === undefined) this.logKeys.set(k, key);
        else if (prev !== key) fail(`Log Matching: two different entries at ${k} (${prev} vs ${key})`);
      }
      n.storage.append(rd.entries);
    }
    if (rd.hardState !== undefined) {
      if (rd.hardState.commit < n.persistedCommit) {
        fail(`node ${n.id}: persisted commit went back ${n.persistedCommit} -> ${rd.hardState.commit}`);
      }
      n.persistedCommit = rd.hardState.commit;
      n.storage.setHardState(rd.hardState);
    }
  }

  private applyEntry(n: SimNode, e: Entry): void {
    const key = entryKey(e);
    const prev = this.appliedAt.get(e.index);
    if (prev === undefined) this.appliedAt.set(e.index, key);
    else if (prev !== key)
      fail(`State Machine Safety: index ${e.index} applied as ${prev} and ${key} (node ${n.id})`);
    n.sm.hash = mix(n.sm.hash, key);
    n.sm.applied = e.index;
    const h = this.hashAt.get(e.index);
    if (h === undefined) this.hashAt.set(e.index, n.sm.hash);
    else if (h !== n.sm.hash) fail(`node ${n.id}: state digest differs at ${e.index}`);
    if (e.index > this.maxApplied) this.maxApplied = e.index;
    if (e.type === EntryType.Normal && e.data.length > 0) {
      const d = dec.decode(e.data);
      if (!this.acked.has(d)) this.acked.set(d, e.index);
    }
  }

  private installSnapshot(n: SimNode, s: Snapshot): void {
    const idx = s.meta.index;
    if (idx <= n.sm.applied) fail(`node ${n.id}: snapshot ${idx} not newer than applied ${n.sm.applied}`);
    const hash = Number(dec.decode(s.data));
    const known = this.hashAt.get(idx);
    if (known !== undefined && known !== hash) fail(`node ${n.id}: snapshot digest at ${idx} differs`);
    n.storage.applySnapshot(s);
    n.sm = { applied: idx, hash, conf: s.meta.conf };
    this.log.push(`${this.now} node ${n.id} installed snapshot ${s.meta.term}/${idx}`);
  }

  /** Models the transport streaming the newest image instead of the planned one (see brief). */
  private maybeLaterSnapshot(n: SimNode, m: Message): Message {
    if (m.type !== 'snap' || this.rng.float() >= (this.opts.laterSnapshot ?? 0)) return m;
    // An image is taken of what is written; applies of entries still in flight are not yet.
    if (n.sm.applied <= m.snapshot.meta.index || n.sm.applied > n.storage.lastIndex()) return m;
    n.storage.createSnapshot(n.sm.applied as LogIndex, n.sm.conf, enc.encode(String(n.sm.hash)));
    return { ...m, snapshot: n.storage.snapshot() };
  }

  private maybeCompact(n: SimNode): void {
    const every = this.opts.snapshotEvery ?? 0;
    if (every === 0 || !n.alive) return;
    const first = n.storage.firstIndex();
    if (n.sm.applied - first + 1 <= every) return;
    n.storage.createSnapshot(n.sm.applied as LogIndex, n.sm.conf, enc.encode(String(n.sm.hash)));
    const upTo = n.sm.applied - (this.opts.snapshotKeep ?? 0);
    if (upTo >= first) n.storage.compact(upTo as LogIndex);
  }

  private serveReads(n: SimNode): void {
    const rest: PendingRead[] = [];
    for (const r of n.reads) {
      if (r.index !== undefined && r.index <= n.sm.applied) {
        // Linearizability: the read must reflect every write committed before it was issued.
        if (r.index < r.minIndex) fail(`node ${n.id}: stale read ${r.ctx} at ${r.index} < ${r.minIndex}`);
        n.servedReads++;
      } else rest.push(r);
    }
    n.reads = rest;
  }

  // ---------------------------------------------------------------- invariants

  check(): void {
    for (const n of this.live()) {
      const raw = n.raw as RawNode;
      const s = raw.status();
      if (s.commit < n.seenCommit) fail(`node ${n.id}: commit went back ${n.seenCommit} -> ${s.commit}`);
      n.seenCommit = s.commit;
      if (s.role !== 'leader') continue;
      const l = this.leaderOf.get(s.term);
      if (l === undefined) this.leaderOf.set(s.term, n.id);
      else if (l !== n.id) fail(`Election Safety: term ${s.term} has leaders ${l} and ${n.id}`);
      const key = `${s.term}/${n.id}`;
      if (this.checkedLeaders.has(key)) continue;
      this.checkedLeaders.add(key);
      // Leader Completeness: every entry committed in an earlier term is in the new leader's log.
      const first = raw.firstIndex();
      for (const [i, k] of this.appliedAt) {
        const t = Number(k.slice(0, k.indexOf(':')));
        if (t >= s.term || i < first) continue;
        if (raw.termAt(i as LogIndex) !== (t as Term)) {
          fail(`Leader Completeness: leader ${n.id} of term ${s.term} lacks committed ${t}/${i}`);
        }
      }
    }
  }
}
