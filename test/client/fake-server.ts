/**
 * A small in-memory Arbor server for client tests: a test double for the SERVER (one shared
 * tree, several gRPC members in front of it), with fault switches per member. It implements
 * the proto honestly enough for the client to be exercised end to end: versions, sequential
 * names, recursive delete, atomic multi, watch history with resume, sessions, exactly-once
 * results by (client_id, sequence), and the pipelined Stream.
 */
import * as grpc from '@grpc/grpc-js';
import { loadArborProtos } from '../../src/client/proto.js';
import type {
  WireClientResponse,
  WireCreateRequest,
  WireCreateResponse,
  WireDeleteRequest,
  WireHeader,
  WireMultiRequest,
  WireOp,
  WireOpResult,
  WireReadRequest,
  WireSetRequest,
  WireStat,
  WireWatchEvent,
  WireWatchRequest,
  WireWatchResponse,
} from '../../src/client/wire.js';

class Fail extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly failedOp = -1,
  ) {
    super(message);
  }
}

interface ZNode {
  data: Buffer;
  version: number;
  cversion: number;
  created: number;
  modified: number;
  pzxid: number;
  owner: bigint;
  children: Set<string>;
}

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const nameOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

function statOf(n: ZNode): WireStat {
  return {
    createdRevision: String(n.created),
    modifiedRevision: String(n.modified),
    childrenRevision: String(n.pzxid),
    version: String(n.version),
    childrenVersion: String(n.cversion),
    createdMs: '1700000000000',
    modifiedMs: '1700000000000',
    ephemeralOwner: n.owner.toString(),
    dataLength: n.data.length,
    numChildren: n.children.size,
  };
}

type Tree = Map<string, ZNode>;
const cloneTree = (t: Tree): Tree =>
  new Map([...t].map(([k, n]) => [k, { ...n, children: new Set(n.children) }] as const));

export type Outcome = { ok: true; value: unknown } | { ok: false; error: Fail };

/** The replicated state every member of the fake cluster serves. */
export class FakeState {
  tree: Tree = new Map([['/', this.node(Buffer.alloc(0), 0, 0n)]]);
  revision = 0;
  compactRevision = 0;
  history: WireWatchEvent[] = [];
  readonly sessions = new Map<bigint, number>();
  private nextSession = 1000n;
  /** Exactly-once table: client id → sequence → outcome. */
  readonly results = new Map<string, Map<number, Outcome>>();
  /** Every header received, in arrival order, for assertions. */
  readonly headers: { op: string; clientId: string; sequence: number; firstUnacked: number }[] = [];
  /** How many times each write was actually applied (not answered from the cache). */
  applied = 0;
  private readonly watchers = new Set<(e: WireWatchEvent[]) => void>();
  members = [{ id: '1', name: 'm1', clientUrl: '', peerUrl: 'http://m1', role: 'VOTER', healthy: true }];

  private node(data: Buffer, rev: number, owner: bigint): ZNode {
    return {
      data,
      version: 0,
      cversion: 0,
      created: rev,
      modified: rev,
      pzxid: rev,
      owner,
      children: new Set(),
    };
  }

  subscribe(f: (e: WireWatchEvent[]) => void): () => void {
    this.watchers.add(f);
    return () => this.watchers.delete(f);
  }

  get(path: string): ZNode {
    const n = this.tree.get(path);
    if (!n) throw new Fail(grpc.status.NOT_FOUND, `no node ${path}`);
    return n;
  }

  /** Run a write once per (client, sequence); a retry gets the cached outcome. */
  exactlyOnce(op: string, header: WireHeader | null | undefined, f: () => unknown): unknown {
    let cache: Map<number, Outcome> | undefined;
    let seq = 0;
    if (header && header.clientId !== '') {
      seq = Number(header.sequence);
      this.headers.push({
        op,
        clientId: header.clientId,
        sequence: seq,
        firstUnacked: Number(header.firstUnacked),
      });
      cache = this.results.get(header.clientId) ?? new Map<number, Outcome>();
      this.results.set(header.clientId, cache);
      for (const s of cache.keys()) if (s < Number(header.firstUnacked)) cache.delete(s);
      const hit = cache.get(seq);
      if (hit) {
        if (hit.ok) return hit.value;
        throw hit.error;
      }
    }
    try {
      const value = f();
      this.applied++;
      cache?.set(seq, { ok: true, value });
      return value;
    } catch (e) {
      if (e instanceof Fail) cache?.set(seq, { ok: false, error: e });
      throw e;
    }
  }

  /** Apply ops atomically at one new revision. */
  transact(ops: WireOp[]): WireOpResult[] {
    const work = cloneTree(this.tree);
    const rev = this.revision + 1;
    const events: WireWatchEvent[] = [];
    const results = ops.map((op, i) => {
      try {
        return this.applyOp(work, rev, op, events);
      } catch (e) {
        if (e instanceof Fail && ops.length > 1) throw new Fail(e.code, e.message, i);
        throw e;
      }
    });
    this.tree = work;
    this.revision = rev;
    this.history.push(...events);
    for (const w of this.watchers) w(events);
    return results;
  }

  private applyOp(t: Tree, rev: number, w: WireOp, events: WireWatchEvent[]): WireOpResult {
    const need = (p: string): ZNode => {
      const n = t.get(p);
      if (!n) throw new Fail(grpc.status.NOT_FOUND, `no node ${p}`);
      return n;
    };
    const checkVersion = (n: ZNode, expected: string): void => {
      if (Number(expected) !== -1 && Number(expected) !== n.version)
        throw new Fail(grpc.status.FAILED_PRECONDITION, `bad version: ${n.version} != ${expected}`);
    };
    const ev = (type: WireWatchEvent['type'], path: string, n: ZNode): void => {
      events.push({ type, path, data: n.data, stat: statOf(n), revision: String(rev) });
    };
    switch (w.op) {
      case 'create': {
        const c = w.create;
        if (!c.path.startsWith('/') || c.path.endsWith('/'))
          throw new Fail(grpc.status.INVALID_ARGUMENT, 'bad path');
        if (
          (c.mode === 'EPHEMERAL' || c.mode === 'EPHEMERAL_SEQUENTIAL') &&
          !this.sessions.has(BigInt(c.sessionId))
        )
          throw new Fail(grpc.status.FAILED_PRECONDITION, 'unknown session');
        const parentPath = parentOf(c.path);
        if (!t.has(parentPath)) {
          if (!c.createParents) throw new Fail(grpc.status.NOT_FOUND, `no parent ${parentPath}`);
          this.applyOp(
            t,
            rev,
            { op: 'create', create: { ...c, path: parentPath, mode: 'PERSISTENT', data: Buffer.alloc(0) } },
            events,
          );
        }
        const parent = need(parentPath);
        let path = c.path;
        if (c.mode.includes('SEQUENTIAL')) path += String(parent.cversion).padStart(10, '0');
        if (t.has(path)) throw new Fail(grpc.status.ALREADY_EXISTS, `node exists ${path}`);
        const n = this.node(
          Buffer.from(c.data),
          rev,
          c.mode.startsWith('EPHEMERAL') ? BigInt(c.sessionId) : 0n,
        );
        t.set(path, n);
        parent.children.add(nameOf(path));
        parent.cversion++;
        parent.pzxid = rev;
        ev('CREATED', path, n);
        return { result: 'create', create: { path, stat: statOf(n) } };
      }
      case 'set': {
        const n = need(w.set.path);
        checkVersion(n, w.set.expectedVersion);
        n.data = Buffer.from(w.set.data);
        n.version++;
        n.modified = rev;
        ev('UPDATED', w.set.path, n);
        return { result: 'set', set: { stat: statOf(n) } };
      }
      case 'delete': {
        const d = w.delete;
        const n = need(d.path);
        checkVersion(n, d.expectedVersion);
        if (n.children.size > 0 && !d.recursive) throw new Fail(grpc.status.FAILED_PRECONDITION, 'not empty');
        for (const c of [...n.children])
          this.applyOp(
            t,
            rev,
            { op: 'delete', delete: { ...d, path: `${d.path}/${c}`, expectedVersion: '-1' } },
            events,
          );
        t.delete(d.path);
        const parent = need(parentOf(d.path));
        parent.children.delete(nameOf(d.path));
        parent.cversion++;
        parent.pzxid = rev;
        ev('DELETED', d.path, n);
        return { result: 'delete', delete: {} };
      }
      case 'check':
        checkVersion(need(w.check.path), w.check.expectedVersion);
        return { result: 'check', check: {} };
    }
  }

  openSession(timeoutMs: number): { sessionId: string; timeoutMs: string } {
    const id = this.nextSession++;
    this.sessions.set(id, timeoutMs);
    return { sessionId: id.toString(), timeoutMs: String(timeoutMs) };
  }

  closeSession(id: bigint): void {
    if (!this.sessions.delete(id)) throw new Fail(grpc.status.NOT_FOUND, 'unknown session');
    const owned = [...this.tree].filter(([, n]) => n.owner === id).map(([p]) => p);
    if (owned.length > 0)
      this.transact(
        owned.map((path) => ({ op: 'delete', delete: { path, expectedVersion: '-1', recursive: false } })),
      );
  }
}

export interface Faults {
  /** Answer every call with UNAVAILABLE. */
  unavailable: boolean;
  /** Apply the next N writes, then lose the answer (UNAVAILABLE / broken stream). */
  dropWriteResponses: number;
  /** Hold Stream responses and release them in reverse order, this many at a time (0: off). */
  reorderBatch: number;
  /** Stop answering keep-alives (the stream stays open). */
  silentKeepAlives: boolean;
  /** Answer keep-alives with ttl 0 (session expired). */
  expireSessions: boolean;
  /** Break each watch stream after this many events were sent on it (0: never). */
  breakWatchAfter: number;
  /** Misbehave on resume: replay from this many revisions before the requested start. */
  watchReplaySlack: number;
  /** Stream RPC answers UNIMPLEMENTED. */
  noStream: boolean;
}

const noFaults = (): Faults => ({
  unavailable: false,
  dropWriteResponses: 0,
  reorderBatch: 0,
  silentKeepAlives: false,
  expireSessions: false,
  breakWatchAfter: 0,
  watchReplaySlack: 0,
  noStream: false,
});

type Handler = (req: never) => unknown;

/** One member of the fake cluster: a gRPC server over the shared FakeState. */
export class FakeMember {
  readonly faults: Faults = noFaults();
  readonly server = new grpc.Server();
  port = 0;
  /** Calls seen, by method, for assertions. */
  readonly calls: string[] = [];
  /** Remote address:port of every Stream call: one per TCP connection. */
  readonly streamPeers = new Set<string>();
  readonly watchRequests: WireWatchRequest[] = [];
  openStreams = 0;
  /** Announce `arbor-batch: 1` on Stream calls (the client may then pack requests). */
  batchSupport = false;
  /** Size of every packed request (ClientRequest.batch) received. */
  readonly packs: number[] = [];
  private readonly watchCalls = new Set<grpc.ServerWritableStream<WireWatchRequest, WireWatchResponse>>();
  /** Keep-alives answered. */
  keepAlives = 0;
  /** Keep-alives received while `silentKeepAlives` was set (never answered). */
  droppedKeepAlives = 0;
  private readonly live = new Set<
    grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>
  >();

  constructor(readonly state: FakeState) {
    const { Arbor, Cluster } = loadArborProtos();
    const s = state;
    const ops: Record<string, Handler> = {
      create: (r: WireCreateRequest) =>
        s.exactlyOnce(
          'create',
          r.header,
          () => (s.transact([{ op: 'create', create: r }])[0] as { create: WireCreateResponse }).create,
        ),
      get: (r: WireReadRequest) => {
        const n = s.get(r.path);
        return { data: n.data, stat: statOf(n), revision: String(s.revision) };
      },
      set: (r: WireSetRequest) =>
        s.exactlyOnce(
          'set',
          r.header,
          () => (s.transact([{ op: 'set', set: r }])[0] as { set: unknown }).set,
        ),
      delete: (r: WireDeleteRequest) =>
        s.exactlyOnce('delete', r.header, () => (s.transact([{ op: 'delete', delete: r }]), {})),
      exists: (r: WireReadRequest) => {
        const n = s.tree.get(r.path);
        return { exists: n !== undefined, stat: n ? statOf(n) : null, revision: String(s.revision) };
      },
      getChildren: (r: WireReadRequest) => {
        const n = s.get(r.path);
        return { children: [...n.children].sort(), stat: statOf(n), revision: String(s.revision) };
      },
      multi: (r: WireMultiRequest) =>
        s.exactlyOnce('multi', r.header, () => ({ results: s.transact(r.ops) })),
      sync: () => ({ revision: String(s.revision) }),
    };
    const isWrite = (op: string): boolean => ['create', 'set', 'delete', 'multi'].includes(op);
    const unary =
      (op: string) =>
      (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>): void => {
        this.calls.push(op);
        if (this.faults.unavailable) return cb({ code: grpc.status.UNAVAILABLE, details: 'member down' });
        try {
          const res = ops[op]!(call.request as never);
          if (isWrite(op) && this.faults.dropWriteResponses > 0) {
            this.faults.dropWriteResponses--;
            return cb({ code: grpc.status.UNAVAILABLE, details: 'response lost' });
          }
          cb(null, res);
        } catch (e) {
          cb(
            e instanceof Fail
              ? { code: e.code, details: e.message }
              : { code: grpc.status.INTERNAL, details: String(e) },
          );
        }
      };
    this.server.addService(Arbor.service, {
      Create: unary('create'),
      Get: unary('get'),
      Set: unary('set'),
      Delete: unary('delete'),
      Exists: unary('exists'),
      GetChildren: unary('getChildren'),
      Multi: unary('multi'),
      Sync: unary('sync'),
      Watch: (call: grpc.ServerWritableStream<WireWatchRequest, WireWatchResponse>) => this.watch(call),
      OpenSession: (
        call: grpc.ServerUnaryCall<{ timeoutMs: string; header: WireHeader }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        this.calls.push('openSession');
        if (this.faults.unavailable) return cb({ code: grpc.status.UNAVAILABLE, details: 'member down' });
        cb(
          null,
          s.exactlyOnce('openSession', call.request.header, () =>
            s.openSession(Number(call.request.timeoutMs)),
          ),
        );
      },
      CloseSession: (
        call: grpc.ServerUnaryCall<{ sessionId: string; header: WireHeader }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        this.calls.push('closeSession');
        if (this.faults.unavailable) return cb({ code: grpc.status.UNAVAILABLE, details: 'member down' });
        try {
          cb(
            null,
            s.exactlyOnce(
              'closeSession',
              call.request.header,
              () => (s.closeSession(BigInt(call.request.sessionId)), {}),
            ),
          );
        } catch (e) {
          cb(
            e instanceof Fail
              ? { code: e.code, details: e.message }
              : { code: grpc.status.INTERNAL, details: String(e) },
          );
        }
      },
      KeepAlive: (call: grpc.ServerDuplexStream<{ sessionId: string }, unknown>) => {
        this.track(call);
        if (this.faults.unavailable) {
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'member down' });
          return;
        }
        call.on('data', (r: { sessionId: string }) => {
          if (this.faults.silentKeepAlives) {
            this.droppedKeepAlives++;
            return;
          }
          const known = s.sessions.get(BigInt(r.sessionId));
          const ttl = this.faults.expireSessions || known === undefined ? 0 : known;
          this.keepAlives++;
          call.write({ sessionId: r.sessionId, ttlMs: String(ttl) });
        });
        call.on('end', () => call.end());
      },
      Stream: (
        call: grpc.ServerDuplexStream<
          Record<string, unknown> & { id: string; op: string },
          WireClientResponse
        >,
      ) => {
        this.track(call);
        this.calls.push('Stream');
        this.streamPeers.add(call.getPeer());
        if (this.faults.noStream)
          return void call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'no Stream' });
        if (this.faults.unavailable)
          return void call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'member down' });
        if (this.batchSupport) {
          const md = new grpc.Metadata();
          md.set('arbor-batch', '1');
          call.sendMetadata(md);
        }
        let held: WireClientResponse[] = [];
        /** The answer, or undefined when a fault broke the stream instead. */
        const answer = (
          req: Record<string, unknown> & { id: string; op: string },
        ): WireClientResponse | undefined => {
          this.calls.push(`stream:${req.op}`);
          try {
            const value = ops[req.op]!(req[req.op] as never);
            if (isWrite(req.op) && this.faults.dropWriteResponses > 0) {
              this.faults.dropWriteResponses--;
              call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'connection lost' });
              return undefined;
            }
            return { id: req.id, result: req.op, [req.op]: value } as unknown as WireClientResponse;
          } catch (e) {
            const f = e instanceof Fail ? e : new Fail(grpc.status.INTERNAL, String(e));
            return {
              id: req.id,
              result: 'error',
              error: { code: f.code, message: f.message, failedOp: f.failedOp },
            };
          }
        };
        call.on('data', (req: Record<string, unknown> & { id: string; op: string }) => {
          const pack = req['batch'] as (typeof req)[] | undefined;
          if (pack !== undefined && pack.length > 0) {
            // Answered packed too, in reverse order: the client matches answers by id.
            this.packs.push(pack.length);
            const out: WireClientResponse[] = [];
            for (const r of pack) {
              const res = answer(r);
              if (res === undefined) return;
              out.unshift(res);
            }
            call.write({ id: '0', batch: out });
            return;
          }
          const res = answer(req);
          if (res === undefined) return;
          if (this.faults.reorderBatch > 0) {
            held.push(res);
            if (held.length >= this.faults.reorderBatch) {
              for (const r of held.reverse()) call.write(r);
              held = [];
            }
          } else call.write(res);
        });
        call.on('end', () => call.end());
      },
    });
    this.server.addService(Cluster.service, {
      Status: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        if (this.faults.unavailable) return cb({ code: grpc.status.UNAVAILABLE, details: 'member down' });
        cb(null, {
          memberId: '1',
          leaderId: '1',
          term: '3',
          commitIndex: String(s.revision),
          appliedIndex: String(s.revision),
          revision: String(s.revision),
          members: s.members,
          name: 'm1',
          role: 'leader',
        });
      },
      AddMember: (
        call: grpc.ServerUnaryCall<
          { id: string; name: string; peerUrl: string; clientUrl: string; asLearner: boolean },
          unknown
        >,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const r = call.request;
        if (s.members.some((m) => m.id === r.id))
          return cb({ code: grpc.status.ALREADY_EXISTS, details: 'member exists' });
        s.members.push({
          id: r.id,
          name: r.name,
          clientUrl: r.clientUrl,
          peerUrl: r.peerUrl,
          role: r.asLearner ? 'LEARNER' : 'VOTER',
          healthy: true,
        });
        cb(null, { members: s.members });
      },
      PromoteMember: (
        call: grpc.ServerUnaryCall<{ id: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        const m = s.members.find((x) => x.id === call.request.id);
        if (!m) return cb({ code: grpc.status.NOT_FOUND, details: 'no member' });
        m.role = 'VOTER';
        cb(null, { members: s.members });
      },
      RemoveMember: (
        call: grpc.ServerUnaryCall<{ id: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        s.members = s.members.filter((x) => x.id !== call.request.id);
        cb(null, { members: s.members });
      },
      TransferLeader: (
        call: grpc.ServerUnaryCall<{ targetId: string }, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => cb(null, { leaderId: call.request.targetId === '0' ? '2' : call.request.targetId }),
    });
  }

  private track(call: object): void {
    const c = call as grpc.ServerDuplexStream<unknown, unknown>;
    this.live.add(c);
    this.openStreams++;
    const done = (): void => {
      if (this.live.delete(c)) this.openStreams--;
    };
    c.on('close', done);
    c.on('cancelled', done);
    c.on('finish', done);
  }

  private watch(call: grpc.ServerWritableStream<WireWatchRequest, WireWatchResponse>): void {
    this.track(call);
    this.watchCalls.add(call);
    call.on('close', () => this.watchCalls.delete(call));
    call.on('cancelled', () => this.watchCalls.delete(call));
    const s = this.state;
    const r = call.request;
    this.watchRequests.push(r);
    if (this.faults.unavailable)
      return void call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'member down' });
    const start = Number(r.startRevision);
    if (start > 0 && start < s.compactRevision) {
      call.write({
        created: false,
        revision: String(s.revision),
        events: [],
        progress: false,
        compactRevision: String(s.compactRevision),
      });
      return void call.emit('error', { code: grpc.status.OUT_OF_RANGE, details: 'compacted' });
    }
    const matches = (p: string): boolean =>
      r.scope === 'NODE'
        ? p === r.path
        : r.scope === 'CHILDREN'
          ? p === r.path || parentOf(p) === r.path
          : p === r.path || p.startsWith(r.path === '/' ? '/' : `${r.path}/`);
    let sent = 0;
    let broken = false;
    const send = (events: WireWatchEvent[]): void => {
      const mine = events.filter((e) => matches(e.path));
      if (broken || mine.length === 0) return;
      call.write({
        created: false,
        revision: String(s.revision),
        events: mine,
        progress: false,
        compactRevision: '0',
      });
      sent += mine.length;
      if (this.faults.breakWatchAfter > 0 && sent >= this.faults.breakWatchAfter) {
        broken = true;
        unsubscribe();
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'watch stream broke' });
      }
    };
    call.write({
      created: true,
      revision: String(s.revision),
      events: [],
      progress: false,
      compactRevision: '0',
    });
    const unsubscribe = s.subscribe(send);
    if (start > 0) {
      const from = Math.max(1, start - this.faults.watchReplaySlack);
      const byRev = new Map<string | number, WireWatchEvent[]>();
      for (const e of s.history)
        if (Number(e.revision) >= from) byRev.set(e.revision, [...(byRev.get(e.revision) ?? []), e]);
      for (const evs of byRev.values()) send(evs);
    }
    call.on('cancelled', unsubscribe);
    call.on('close', unsubscribe);
  }

  /** Send a progress notification on every open watch stream (for revision tracking tests). */
  sendProgress(): void {
    for (const call of this.watchCalls) {
      call.write({
        created: false,
        revision: String(this.state.revision),
        events: [],
        progress: true,
        compactRevision: '0',
      });
    }
  }

  async start(port = 0): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Drop every connection at once (a crashed member). */
  stop(): void {
    this.server.forceShutdown();
  }
}

/** A fake cluster of `n` members over one shared state. */
export async function startFakeCluster(
  n: number,
): Promise<{ state: FakeState; members: FakeMember[]; endpoints: string[]; stop: () => void }> {
  const state = new FakeState();
  const members = await Promise.all(Array.from({ length: n }, () => new FakeMember(state).start()));
  return {
    state,
    members,
    endpoints: members.map((m) => m.address),
    stop: () => members.forEach((m) => m.stop()),
  };
}

/** An address on which nothing listens (a member that is down). */
export async function deadAddress(): Promise<string> {
  const m = await new FakeMember(new FakeState()).start();
  const a = m.address;
  m.stop();
  return a;
}

/** Poll until `cond` holds (tests never sleep a fixed time). */
export async function until(cond: () => boolean, what = 'condition', timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
