/**
 * ArborClient: the typed API over the Arbor and Cluster services. Every call goes through
 * EndpointPool.retry (failover, backoff, deadline, abort); writes carry a RequestHeader whose
 * sequence is fixed before the first attempt, so retries are answered exactly once.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import {
  consistencyToWire,
  createRequestToWire,
  headerToWire,
  memberFromWire,
  opResultFromWire,
  opToWire,
  statFromWire,
  statusFromWire,
  toBytes,
  toNum,
} from './convert.js';
import { unaryCall, type Endpoint } from './endpoint.js';
import { EndpointPool } from './pool.js';
import { Session } from './session.js';
import type {
  AddMemberOptions,
  ArborClientOptions,
  CallOptions,
  ChildrenResult,
  CreateOptions,
  CreateResult,
  Data,
  DeleteOptions,
  ExistsResult,
  GetResult,
  Member,
  MemberStatus,
  Op,
  OpResult,
  ReadOptions,
  SessionOptions,
  SetOptions,
  SetResult,
  WatchOptions,
} from './types.js';
import { Watcher } from './watch.js';
import type { WireHeader, WireMember, WireOpName, WireOps, WireStatusResponse } from './wire.js';

type WriteOp = 'create' | 'set' | 'delete' | 'multi';
type Headerless<K extends WriteOp> = Omit<WireOps[K]['req'], 'header'>;

export const DEFAULT_ENDPOINTS: readonly string[] = ['127.0.0.1:4181', '127.0.0.1:4182', '127.0.0.1:4183'];

export class ArborClient {
  readonly clientId: string;
  private readonly pool: EndpointPool;
  private readonly watchers = new Set<Watcher>();
  private readonly sessions = new Set<Session>();

  constructor(opts: ArborClientOptions) {
    this.clientId = opts.clientId ?? randomUUID();
    this.pool = new EndpointPool({
      endpoints: opts.endpoints,
      clientId: this.clientId,
      defaultDeadlineMs: opts.defaultDeadlineMs ?? 10_000,
      attemptTimeoutMs: opts.attemptTimeoutMs ?? 5_000,
      credentials: opts.credentials ?? grpc.credentials.createInsecure(),
      transport: opts.transport ?? 'stream',
      backoff: opts.backoff ?? { baseMs: 50, maxMs: 1_000 },
    });
  }

  get endpoints(): readonly string[] {
    return this.pool.endpoints.map((e) => e.address);
  }

  // ---- data ------------------------------------------------------------------------------

  async create(path: string, data?: Data, opts: CreateOptions = {}): Promise<CreateResult> {
    const res = await this.write('create', createRequestToWire(path, { ...opts, data }), opts);
    return { path: res.path, stat: statFromWire(res.stat) };
  }

  async get(path: string, opts: ReadOptions = {}): Promise<GetResult> {
    const res = await this.read('get', { path, consistency: consistencyToWire(opts.consistency) }, opts);
    return { data: res.data, stat: statFromWire(res.stat), revision: toNum(res.revision) };
  }

  async set(path: string, data: Data, opts: SetOptions = {}): Promise<SetResult> {
    const res = await this.write(
      'set',
      { path, data: toBytes(data), expectedVersion: String(opts.expectedVersion ?? -1) },
      opts,
    );
    return { stat: statFromWire(res.stat) };
  }

  async delete(path: string, opts: DeleteOptions = {}): Promise<void> {
    await this.write(
      'delete',
      { path, expectedVersion: String(opts.expectedVersion ?? -1), recursive: opts.recursive ?? false },
      opts,
    );
  }

  async exists(path: string, opts: ReadOptions = {}): Promise<ExistsResult> {
    const res = await this.read('exists', { path, consistency: consistencyToWire(opts.consistency) }, opts);
    const revision = toNum(res.revision);
    return res.exists
      ? { exists: true, stat: statFromWire(res.stat), revision }
      : { exists: false, revision };
  }

  async children(path: string, opts: ReadOptions = {}): Promise<ChildrenResult> {
    const res = await this.read(
      'getChildren',
      { path, consistency: consistencyToWire(opts.consistency) },
      opts,
    );
    return { children: res.children, stat: statFromWire(res.stat), revision: toNum(res.revision) };
  }

  /** All ops apply atomically or none does; a failure names the op in `error.failedOp`. */
  async multi(ops: readonly Op[], opts: CallOptions = {}): Promise<OpResult[]> {
    const res = await this.write('multi', { ops: ops.map(opToWire) }, opts);
    return res.results.map(opResultFromWire);
  }

  /** Wait until the serving member has applied everything committed before this call. */
  async sync(path = '/', opts: CallOptions = {}): Promise<{ revision: number }> {
    const res = await this.read('sync', { path }, opts);
    return { revision: toNum(res.revision) };
  }

  /**
   * Watch `path`. Iterate the result with `for await`; breaking out, `close()` or aborting
   * `signal` ends it quietly. A broken stream is resumed on another member from
   * lastRevision + 1; compacted history ends the iteration with OutOfRangeError.
   */
  watch(path: string, opts: WatchOptions = {}): Watcher {
    const w = new Watcher(this.pool, path, opts, (x) => this.watchers.delete(x));
    this.watchers.add(w);
    return w;
  }

  // ---- sessions --------------------------------------------------------------------------

  /** Open a session; it keeps itself alive until `close()` or until it is lost. */
  async session(opts: SessionOptions = {}): Promise<Session> {
    const s = await Session.open(this.pool, { ...opts, timeoutMs: opts.timeoutMs ?? 10_000 }, (x) =>
      this.sessions.delete(x),
    );
    this.sessions.add(s);
    return s;
  }

  // ---- cluster ---------------------------------------------------------------------------

  /** Status of one member: `endpoint` if given (no failover), else any reachable member. */
  async status(opts: CallOptions & { readonly endpoint?: string } = {}): Promise<MemberStatus> {
    const only = opts.endpoint === undefined ? undefined : this.pool.endpointFor(opts.endpoint);
    return this.pool.retry(
      'read',
      opts,
      async (ep, deadline) =>
        statusFromWire(ep.address, await this.cluster<WireStatusResponse>(ep, 'Status', {}, deadline, opts)),
      only,
    );
  }

  async members(opts: CallOptions = {}): Promise<Member[]> {
    return (await this.status(opts)).members;
  }

  async addMember(opts: AddMemberOptions): Promise<Member[]> {
    const req = {
      id: String(opts.id),
      name: opts.name,
      peerUrl: opts.peerUrl,
      clientUrl: opts.clientUrl,
      asLearner: opts.asLearner ?? false,
    };
    return this.membership('AddMember', req, opts);
  }

  async promoteMember(id: number, opts: CallOptions = {}): Promise<Member[]> {
    return this.membership('PromoteMember', { id: String(id) }, opts);
  }

  async removeMember(id: number, opts: CallOptions = {}): Promise<Member[]> {
    return this.membership('RemoveMember', { id: String(id) }, opts);
  }

  /** Move leadership to `targetId` (0 or absent: the most up-to-date other voter). */
  async transferLeader(targetId = 0, opts: CallOptions = {}): Promise<{ leaderId: number }> {
    const res = await this.pool.retry('write', opts, (ep, deadline) =>
      this.cluster<{ leaderId: string }>(
        ep,
        'TransferLeader',
        { targetId: String(targetId) },
        deadline,
        opts,
      ),
    );
    return { leaderId: toNum(res.leaderId) };
  }

  /**
   * Close every stream and channel. Sessions are abandoned, not closed (their ephemerals go
   * when they expire); call `session.close()` first to end them at once.
   */
  close(): Promise<void> {
    for (const w of [...this.watchers]) w.close();
    for (const s of [...this.sessions]) s.abandon();
    this.pool.close();
    return Promise.resolve();
  }

  // ---- plumbing --------------------------------------------------------------------------

  private read<K extends Exclude<WireOpName, WriteOp>>(
    op: K,
    req: WireOps[K]['req'],
    opts: CallOptions,
  ): Promise<WireOps[K]['res']> {
    return this.pool.retry('read', opts, (ep, deadline) =>
      ep.invoke(this.pool.transport, op, req, deadline, opts.signal),
    );
  }

  private async write<K extends WriteOp>(
    op: K,
    req: Headerless<K>,
    opts: CallOptions,
  ): Promise<WireOps[K]['res']> {
    // The sequence is fixed once; every attempt re-sends it (firstUnacked may move on).
    const seq = this.pool.sequencer.begin();
    try {
      return await this.pool.retry('write', opts, (ep, deadline) => {
        const header: WireHeader = headerToWire(this.pool.sequencer.header(seq));
        const full = { ...req, header } as WireOps[K]['req'];
        return ep.invoke(this.pool.transport, op, full, deadline, opts.signal);
      });
    } finally {
      this.pool.sequencer.end(seq);
    }
  }

  private cluster<T>(
    ep: Endpoint,
    method: string,
    req: unknown,
    deadline: number,
    opts: CallOptions,
  ): Promise<T> {
    return unaryCall<T>(ep.clusterClient(), method, req, deadline, opts.signal);
  }

  private async membership(method: string, req: unknown, opts: CallOptions): Promise<Member[]> {
    const res = await this.pool.retry('write', opts, (ep, deadline) =>
      this.cluster<{ members: WireMember[] }>(ep, method, req, deadline, opts),
    );
    return res.members.map(memberFromWire);
  }
}
