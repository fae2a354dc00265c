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
import { TokenSource, type StreamAuth } from './credentials.js';
import { UnauthenticatedError } from './errors.js';
import { aclFromWire } from './convert.js';
import type { AclEntry, AclResult, UserInfo } from './types.js';
import type { WireAcl } from './wire.js';
import type { WireHeader, WireMember, WireOpName, WireOps, WireStatusResponse } from './wire.js';

type WriteOp = 'create' | 'set' | 'delete' | 'multi';
type Headerless<K extends WriteOp> = Omit<WireOps[K]['req'], 'header'>;

export const DEFAULT_ENDPOINTS: readonly string[] = ['127.0.0.1:4181', '127.0.0.1:4182', '127.0.0.1:4183'];

export class ArborClient {
  readonly clientId: string;
  private readonly pool: EndpointPool;
  private readonly watchers = new Set<Watcher>();
  private readonly sessions = new Set<Session>();
  /** Present when the client authenticates with user/password. */
  private readonly tokens: TokenSource | undefined;
  /** The same token for Watch and KeepAlive streams, fetched before each one opens. */
  private readonly streamAuth: StreamAuth | undefined;
  private leaderSeek: Promise<void> | undefined;

  constructor(opts: ArborClientOptions) {
    this.clientId = opts.clientId ?? randomUUID();
    if ((opts.user === undefined) !== (opts.password === undefined))
      throw new RangeError('user and password go together');
    this.tokens =
      opts.user !== undefined && opts.password !== undefined
        ? new TokenSource(opts.user, opts.password)
        : undefined;
    this.pool = new EndpointPool({
      endpoints: opts.endpoints,
      clientId: this.clientId,
      defaultDeadlineMs: opts.defaultDeadlineMs ?? 10_000,
      attemptTimeoutMs: opts.attemptTimeoutMs ?? 5_000,
      credentials: opts.credentials ?? grpc.credentials.createInsecure(),
      transport: opts.transport ?? 'stream',
      backoff: opts.backoff ?? { baseMs: 50, maxMs: 1_000 },
      ...(opts.ownConnections === true ? { ownConnections: true } : {}),
      ...(this.tokens ? { interceptors: [this.tokens.interceptor] } : {}),
      onWriteFailover: () => this.seekLeader(),
    });
    this.streamAuth = this.tokens?.forStreams(this.pool);
    this.seekLeader();
  }

  /**
   * Best effort, in the background: find the leader and send writes straight to it when its
   * client address is one of ours (a follower would forward them: one more hop each way).
   * Runs at start and after a write failed over; forwarding keeps working meanwhile.
   */
  private seekLeader(): void {
    if (this.leaderSeek !== undefined || this.pool.endpoints.length < 2 || this.pool.isClosed) return;
    this.leaderSeek = (async (): Promise<void> => {
      try {
        const st = await this.status({ deadlineMs: 2_000 });
        const leader = st.members.find((m) => m.id === st.leaderId);
        // Only a member of ours can take the writes (no channel to an address we were not given).
        if (leader === undefined || this.pool.isClosed) return;
        if (!this.pool.endpoints.some((e) => e.address === leader.clientUrl)) return;
        // Right after a leader dies its followers still name it until they elect another: only
        // a member that says so itself is taken as the leader (a dead one would draw every write).
        const own =
          st.memberId === leader.id
            ? st
            : await this.status({ endpoint: leader.clientUrl, deadlineMs: 1_000 });
        if (own.role === 'leader' && !this.pool.isClosed) this.pool.preferForWrites(leader.clientUrl);
      } catch {
        // No leader yet or no member reachable: writes still work through whoever answers.
      } finally {
        this.leaderSeek = undefined;
      }
    })();
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
    const w = new Watcher(this.pool, path, opts, (x) => this.watchers.delete(x), this.streamAuth);
    this.watchers.add(w);
    return w;
  }

  // ---- sessions --------------------------------------------------------------------------

  /** Open a session; it keeps itself alive until `close()` or until it is lost. */
  async session(opts: SessionOptions = {}): Promise<Session> {
    await this.tokens?.ensure(this.pool, opts);
    const s = await Session.open(
      this.pool,
      { ...opts, timeoutMs: opts.timeoutMs ?? 10_000 },
      (x) => this.sessions.delete(x),
      this.streamAuth,
    );
    this.sessions.add(s);
    return s;
  }

  // ---- cluster ---------------------------------------------------------------------------

  /** Status of one member: `endpoint` if given (no failover), else any reachable member. */
  async status(opts: CallOptions & { readonly endpoint?: string } = {}): Promise<MemberStatus> {
    const only = opts.endpoint === undefined ? undefined : this.pool.endpointFor(opts.endpoint);
    return this.retry(
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
    const res = await this.retry('write', opts, (ep, deadline) =>
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

  // ---- authentication, ACLs and users ----------------------------------------------------

  /**
   * Fetch a new token now. Never required: every call, and every Watch and KeepAlive stream
   * before it opens, fetches (or renews) the token itself; this checks the password early.
   */
  async authenticate(opts: CallOptions = {}): Promise<void> {
    if (!this.tokens) throw new RangeError('this client has no user/password to authenticate with');
    this.tokens.invalidate();
    await this.tokens.ensure(this.pool, opts);
  }

  async getAcl(path: string, opts: ReadOptions = {}): Promise<AclResult> {
    const res = await this.retry('read', opts, (ep, deadline) =>
      unaryCall<{ acl: WireAcl[]; stat: Parameters<typeof statFromWire>[0]; revision: string }>(
        ep.arborClient(),
        'GetACL',
        { path, consistency: consistencyToWire(opts.consistency) },
        deadline,
        opts.signal,
      ),
    );
    return { acl: aclFromWire(res.acl), stat: statFromWire(res.stat), revision: toNum(res.revision) };
  }

  /** Replace a node's ACL; `expectedAclVersion` (-1 or absent: any) guards against lost updates. */
  async setAcl(
    path: string,
    acl: readonly AclEntry[],
    opts: CallOptions & { readonly expectedAclVersion?: number } = {},
  ): Promise<SetResult> {
    const req = {
      path,
      acl: acl.map((e) => ({ ...e })),
      expectedAclVersion: String(opts.expectedAclVersion ?? -1),
    };
    const res = await this.retry('write', opts, (ep, deadline) =>
      unaryCall<{ stat: Parameters<typeof statFromWire>[0] }>(
        ep.arborClient(),
        'SetACL',
        req,
        deadline,
        opts.signal,
      ),
    );
    return { stat: statFromWire(res.stat) };
  }

  async authStatus(opts: CallOptions = {}): Promise<{ enabled: boolean; identity: string[] }> {
    return this.authCall('read', 'AuthStatus', {}, opts);
  }

  /** Switch auth on (refused unless a user with the admin role exists). */
  async authEnable(opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'AuthEnable', {}, opts);
  }

  async authDisable(opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'AuthDisable', {}, opts);
  }

  async addUser(
    name: string,
    password: string,
    roles: readonly string[] = [],
    opts: CallOptions = {},
  ): Promise<void> {
    await this.authCall('write', 'UserAdd', { name, password, roles: [...roles] }, opts);
  }

  async deleteUser(name: string, opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'UserDelete', { name }, opts);
  }

  async changePassword(name: string, password: string, opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'UserChangePassword', { name, password }, opts);
  }

  async grantRole(name: string, role: string, opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'UserGrantRole', { name, role }, opts);
  }

  async revokeRole(name: string, role: string, opts: CallOptions = {}): Promise<void> {
    await this.authCall('write', 'UserRevokeRole', { name, role }, opts);
  }

  async listUsers(opts: CallOptions = {}): Promise<UserInfo[]> {
    const res = await this.authCall<{ users: UserInfo[] }>('read', 'UserList', {}, opts);
    return res.users.map((u) => ({ name: u.name, roles: [...u.roles] }));
  }

  // ---- plumbing --------------------------------------------------------------------------

  private authCall<T = unknown>(
    kind: 'read' | 'write',
    method: string,
    req: unknown,
    opts: CallOptions,
  ): Promise<T> {
    return this.retry(kind, opts, (ep, deadline) =>
      unaryCall<T>(ep.authClient(), method, req, deadline, opts.signal),
    );
  }

  /**
   * EndpointPool.retry with a token: fetched (or renewed) first, and fetched again once if a
   * member answers UNAUTHENTICATED (it expired, or auth was switched on or re-keyed meanwhile).
   * A write retried this way keeps its sequence, so it still applies at most once.
   */
  private async retry<T>(
    kind: 'read' | 'write',
    opts: CallOptions,
    attempt: (ep: Endpoint, deadline: number) => Promise<T>,
    only?: Endpoint,
    seq?: number,
  ): Promise<T> {
    const t = this.tokens;
    if (t === undefined) return this.pool.retry(kind, opts, attempt, only, seq);
    await t.ensure(this.pool, opts);
    try {
      return await this.pool.retry(kind, opts, attempt, only, seq);
    } catch (e) {
      if (!(e instanceof UnauthenticatedError)) throw e;
      t.invalidate();
      await t.ensure(this.pool, opts);
      return this.pool.retry(kind, opts, attempt, only, seq);
    }
  }

  private read<K extends Exclude<WireOpName, WriteOp>>(
    op: K,
    req: WireOps[K]['req'],
    opts: CallOptions,
  ): Promise<WireOps[K]['res']> {
    return this.retry('read', opts, (ep, deadline) =>
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
      return await this.retry(
        'write',
        opts,
        (ep, deadline) => {
          const header: WireHeader = headerToWire(this.pool.sequencer.header(seq));
          const full = { ...req, header } as WireOps[K]['req'];
          return ep.invoke(this.pool.transport, op, full, deadline, opts.signal);
        },
        undefined,
        seq,
      );
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
    const res = await this.retry('write', opts, (ep, deadline) =>
      this.cluster<{ members: WireMember[] }>(ep, method, req, deadline, opts),
    );
    return res.members.map(memberFromWire);
  }
}
