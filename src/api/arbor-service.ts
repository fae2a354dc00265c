/**
 * The public arbor.v1.Arbor service. Unary RPCs and the pipelined session stream share one set
 * of operations; writes are queued with the member synchronously, in arrival order, so a
 * stream's (or a client's) writes apply in the order sent. On a stream, a read waits for the
 * writes sent before it, as on a ZooKeeper session.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import type { ClientHeader, Command } from '../tree/commands.js';
import { validateCommand } from '../tree/validate.js';
import { validatePath } from '../tree/path.js';
import { treeError } from '../tree/errors.js';
import type { TreeLimits } from '../tree/limits.js';
import type { WatchScope } from '../tree/watch-index.js';
import type { Member } from '../server/member.js';
import { MemberError } from '../server/errors.js';
import type { WatchOut, WatchSink } from '../server/watch-hub.js';
import type { TreeEvent } from '../tree/events.js';
import {
  createCommand,
  deleteCommand,
  enumValue,
  header,
  int,
  multiCommand,
  resultToProto,
  setCommand,
  statToProto,
  str,
  u64,
} from './convert.js';
import { TreeFailure, invalid, serviceError, toStatus } from './status.js';
import { asError, unaryHandler } from './unary.js';
import { budgetKey } from './client-identity.js';
import { watchManyHandler } from './watch-many.js';
import { encodeClientResponse } from './response-encode.js';
import { MessagePacker } from '../util/message-packer.js';
import { MAX_PACK, PACK_TOO_BIG } from './request-decode.js';
import type { WatchEncoder } from './watch-encoding.js';
import type { ConnectionCounts, ConnectionLimits } from './connection-limits.js';
import type { SessionQuota } from './session-quota.js';
import type { AuthGate } from './auth-gate.js';
import { PERM, type Identity } from '../tree/acl.js';

type Msg = Record<string, unknown>;

export interface ApiContext {
  readonly member: Member;
  readonly limits: TreeLimits;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Deadline for requests that carry none (stream requests, calls without a deadline). */
  readonly defaultTimeoutMs: number;
  /** Requests in flight and watches per client connection (RESOURCE_EXHAUSTED beyond). */
  readonly connections: ConnectionLimits;
  /** Live sessions per client identity opened through this member (RESOURCE_EXHAUSTED beyond). */
  readonly sessions: SessionQuota;
  /** Most znode data, summed over a Multi's ops, in one write; checked before Raft only. */
  readonly maxRequestDataBytes: number;
  /** Smallest session timeout a client may ask for. */
  readonly minSessionTimeoutMs: number;
  /** Who is calling and what they may read (src/api/auth-gate.ts). */
  readonly auth: AuthGate;
}

const SCOPES: readonly WatchScope[] = ['node', 'children', 'subtree'];
const LINEARIZABLE = 0;
const SERIALIZABLE = 1;

type OpName =
  'create' | 'get' | 'set' | 'delete' | 'exists' | 'get_children' | 'multi' | 'sync' | 'keep_alive';
const WRITES: ReadonlySet<string> = new Set(['create', 'set', 'delete', 'multi']);

export class Operations {
  constructor(private readonly ctx: ApiContext) {}

  private get member(): Member {
    return this.ctx.member;
  }

  deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
    const d = call.getDeadline();
    const at = d instanceof Date ? d.getTime() : d;
    const now = this.ctx.clock.monoMs();
    if (!Number.isFinite(at)) return now + this.ctx.defaultTimeoutMs;
    return now + Math.max(0, at - Date.now());
  }

  defaultDeadline(): number {
    return this.ctx.clock.monoMs() + this.ctx.defaultTimeoutMs;
  }

  /**
   * Validates and replicates a write; no await before the member has queued it (order). `who`
   * (only while auth is enabled) rides in the envelope and is checked against ACLs at apply.
   */
  write(command: Command, client: ClientHeader | undefined, deadline: number, who?: Identity): Promise<Msg> {
    const v = validateCommand(command, this.ctx.limits);
    if (!v.ok) return Promise.reject(new TreeFailure(v.error));
    // One znode's data is bounded by maxDataBytes above; only a Multi can add up to more.
    if (command.type === 'multi') {
      const tooMuch = multiDataExceeds(command, this.ctx.maxRequestDataBytes);
      if (tooMuch !== undefined) return Promise.reject(tooMuch);
    }
    const env = client
      ? { timeMs: this.ctx.clock.nowMs(), client, command }
      : { timeMs: this.ctx.clock.nowMs(), command };
    return this.member.write(who === undefined ? env : { ...env, identity: who }, deadline).then((out) => {
      if (!out.value.ok) {
        const e = out.value.error;
        if (e.code === 'permissionDenied') {
          this.ctx.auth.audit.warn(
            { event: 'aclDenied', identity: who ?? [], op: command.type, path: e.path, failedOp: e.failedOp },
            'ACL denied',
          );
        }
        throw new TreeFailure(e);
      }
      return resultToProto(out.value.value);
    });
  }

  private async readPoint(req: unknown, deadline: number): Promise<number> {
    const c = enumValue(req, 'consistency');
    if (c === SERIALIZABLE) return this.member.appliedRevision;
    if (c !== LINEARIZABLE) throw invalid(`consistency ${c} is not LINEARIZABLE (0) or SERIALIZABLE (1)`);
    return this.member.linearize(deadline);
  }

  private path(req: unknown): string {
    const p = str(req, 'path');
    const r = validatePath(p, this.ctx.limits);
    if (!r.ok) throw new TreeFailure(r.error);
    return r.value;
  }

  create(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    return this.write(createCommand(req), header(req), deadline, who);
  }

  set(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    return this.write(setCommand(req), header(req), deadline, who);
  }

  delete(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    return this.write(deleteCommand(req), header(req), deadline, who);
  }

  multi(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    return this.write(multiCommand(req), header(req), deadline, who);
  }

  /** Reads are checked here, on the serving member, after the read point (the ACL as of the data). */
  private canRead(path: string, who: Identity | undefined, op: string): void {
    if (who === undefined) return;
    const a = this.member.tree.acl(path);
    if (a !== undefined) this.ctx.auth.require(a.acl, who, PERM.read, path, op);
  }

  async get(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    const path = this.path(req);
    const revision = await this.readPoint(req, deadline);
    const n = this.member.tree.get(path);
    if (!n) throw new MemberError('notFound', `node ${path} does not exist`);
    this.canRead(path, who, 'get');
    return { data: n.data, stat: statToProto(n.stat), revision };
  }

  async exists(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    const path = this.path(req);
    const revision = await this.readPoint(req, deadline);
    const n = this.member.tree.get(path);
    this.canRead(path, who, 'exists');
    return n ? { exists: true, stat: statToProto(n.stat), revision } : { exists: false, revision };
  }

  /** Listing children needs READ on the parent (ZooKeeper's rule), not on each child. */
  async get_children(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    const path = this.path(req);
    const revision = await this.readPoint(req, deadline);
    const c = this.member.tree.children(path);
    if (!c) throw new MemberError('notFound', `node ${path} does not exist`);
    this.canRead(path, who, 'getChildren');
    return { children: c.names, stat: statToProto(c.stat), revision };
  }

  async sync(req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    const path = str(req, 'path') !== '' ? this.path(req) : undefined;
    const revision = await this.member.linearize(deadline);
    if (path !== undefined) this.canRead(path, who, 'sync');
    return { revision };
  }

  async openSession(req: unknown, deadline: number, client: string): Promise<Msg> {
    const timeoutMs = int(req, 'timeout_ms');
    if (timeoutMs < this.ctx.minSessionTimeoutMs) {
      throw invalid(`timeout_ms must be at least ${this.ctx.minSessionTimeoutMs}: got ${timeoutMs}`);
    }
    const quota = this.ctx.sessions;
    quota.reserve(client);
    let res: Msg;
    try {
      res = await this.write({ type: 'openSession', timeoutMs }, header(req), deadline);
    } catch (e) {
      quota.failed(client);
      throw e;
    }
    // resultToProto renders the id as a decimal string (uint64 on the wire).
    quota.opened(client, typeof res.session_id === 'string' ? BigInt(res.session_id) : 0n);
    return res;
  }

  async closeSession(req: unknown, deadline: number): Promise<Msg> {
    const id = u64(req, 'session_id');
    if (id === 0n) throw invalid('session_id must be set');
    if (this.member.sessionTimeout(id) === undefined) {
      // Serve "unknown" only once this member is current, so a just-opened session is not refused.
      await this.member.linearize(deadline);
      if (this.member.sessionTimeout(id) === undefined) {
        throw new MemberError('notFound', `session ${id} is unknown or has expired`);
      }
    }
    return this.write({ type: 'closeSession', sessionId: id as never }, header(req), deadline);
  }

  async keep_alive(req: unknown, deadline: number): Promise<Msg> {
    const id = u64(req, 'session_id');
    if (id === 0n) throw invalid('session_id must be set');
    const alive = await this.member.touchSession(id, deadline);
    const ttl = alive ? (this.member.sessionTimeout(id) ?? 0) : 0;
    return { session_id: id.toString(), ttl_ms: ttl };
  }

  dispatch(name: OpName, req: unknown, deadline: number, who?: Identity): Promise<Msg> {
    switch (name) {
      case 'create':
        return this.create(req, deadline, who);
      case 'get':
        return this.get(req, deadline, who);
      case 'set':
        return this.set(req, deadline, who);
      case 'delete':
        return this.delete(req, deadline, who);
      case 'exists':
        return this.exists(req, deadline, who);
      case 'get_children':
        return this.get_children(req, deadline, who);
      case 'multi':
        return this.multi(req, deadline, who);
      case 'sync':
        return this.sync(req, deadline, who);
      case 'keep_alive':
        return this.keep_alive(req, deadline);
    }
  }
}

const BATCH_METADATA = new grpc.Metadata();
BATCH_METADATA.set('arbor-batch', '1');

function isBatch(req: unknown): boolean {
  const b = (req as Msg).batch;
  return Array.isArray(b) && b.length > 0;
}

export function arborHandlers(ctx: ApiContext, encoder: WatchEncoder): grpc.UntypedServiceImplementation {
  const ops = new Operations(ctx);
  const log = ctx.logger;

  const unary = unaryHandler(log, (call) => ops.deadlineOf(call), ctx.connections);

  /**
   * Validates a WatchRequest-shaped `req` (also WatchCreateRequest), checks READ on the path for
   * `who` and the connection's watch budget, and registers `sink` with the hub (which sends
   * `created` and any replay before this returns). Throws on refusal, with nothing counted; on
   * success the watch is counted on `conn` and the caller leaves it once the watch ends.
   */
  const openWatch = (
    req: unknown,
    who: Identity | undefined,
    conn: ConnectionCounts,
    sink: WatchSink,
  ): number => {
    const pv = validatePath(str(req, 'path'), ctx.limits);
    if (!pv.ok) throw new TreeFailure(pv.error);
    const scopeNum = enumValue(req, 'scope');
    const scope = SCOPES[scopeNum];
    if (scope === undefined)
      throw invalid(`scope ${scopeNum} is not a WatchScope (0 NODE, 1 CHILDREN, 2 SUBTREE)`);
    const start = int(req, 'start_revision');
    if (start < 0) throw invalid('start_revision must be >= 0');
    const node = who === undefined ? undefined : ctx.member.tree.acl(pv.value);
    if (node !== undefined) ctx.auth.require(node.acl, who, PERM.read, pv.value, 'watch');
    ctx.connections.enterWatch(conn);
    try {
      return ctx.member.watches.open(
        pv.value,
        scope,
        start,
        ctx.member.appliedRevision,
        sink,
        ctx.clock.monoMs(),
      );
    } catch (e) {
      ctx.connections.leaveWatch(conn);
      throw e;
    }
  };

  const watch = (call: grpc.ServerWritableStream<unknown, Msg | Buffer>): void => {
    const req = call.request;
    let id = 0;
    let closed = false;
    const conn = ctx.connections.of(call);
    let counted = false;
    let who: Identity | undefined;
    const sink = {
      // Decided per event at delivery: a watch never delivers what its caller could not READ.
      visible: (e: TreeEvent): boolean => ctx.member.tree.allowed(e.acl, who ?? [], PERM.read),
      send: (out: WatchOut): boolean => {
        if (closed) return true;
        switch (out.type) {
          case 'created':
            return call.write({ created: true, revision: out.revision });
          case 'progress':
            return call.write({ progress: true, revision: out.revision });
          case 'events':
            return call.write(encoder.watch(out.revision, out.events));
        }
      },
      close: (err?: MemberError): void => {
        if (closed) return;
        closed = true;
        if (!err) {
          call.end();
          return;
        }
        const st = toStatus(err);
        if (err.compactRevision) call.write({ compact_revision: err.compactRevision });
        call.emit('error', { code: st.code, details: st.details, metadata: st.metadata });
      },
    };
    try {
      who = ctx.auth.identify(call);
      id = openWatch(req, who, conn, sink);
      counted = true;
    } catch (e) {
      sink.close(e instanceof MemberError ? e : toMemberError(e));
      return;
    }
    const cancel = (): void => {
      closed = true;
      // 'cancelled', 'close' and 'error' may all fire for one call: count the watch out once.
      if (counted) {
        counted = false;
        ctx.connections.leaveWatch(conn);
      }
      ctx.member.watches.cancel(id);
    };
    call.on('cancelled', cancel);
    call.on('close', cancel);
    call.on('error', cancel);
    call.on('drain', () => ctx.member.watches.drained(id));
  };

  const keepAlive = (call: grpc.ServerDuplexStream<unknown, Msg>): void => {
    call.on('data', (req: unknown) => {
      ops.keep_alive(req, ops.defaultDeadline()).then(
        (res) => call.write(res),
        (e: unknown) => {
          const st = toStatus(e);
          // A keep-alive that could not reach a leader (an election in progress) is simply not
          // answered: the stream stays open and the client's next keep-alive tries again. Only a
          // malformed request ends the stream, since retrying it cannot help.
          if (st.code === grpc.status.INVALID_ARGUMENT) call.emit('error', serviceError(st));
          else log.debug({ code: st.code, details: st.details }, 'keep-alive not answered');
        },
      );
    });
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  };

  const stream = (call: grpc.ServerDuplexStream<unknown, Msg | Buffer>): void => {
    let lastWrite: Promise<unknown> = Promise.resolve();
    let inflight = 0;
    let ended = false;
    // Looked up once: each request below only counts on it (no per-request lookup or allocation).
    const conn = ctx.connections.of(call);
    ctx.connections.hold(conn);
    let held = true;
    const release = (): void => {
      if (held) {
        held = false;
        ctx.connections.release(conn);
      }
    };
    call.on('close', release);
    const finishIfDone = (): void => {
      if (ended && inflight === 0) {
        answers.flush();
        call.end();
      }
    };
    // Tells the client it may pack requests (ClientRequest.batch); older members send no such
    // header, and their clients keep sending one request per message.
    call.sendMetadata(BATCH_METADATA.clone());
    // Answers to packed requests leave packed; an answer to a lone request leaves alone.
    const answers = new MessagePacker((msg) => {
      if (!call.destroyed && call.writable) call.write(encodeClientResponse(msg) ?? msg);
    });
    const handle = (req: unknown, inBatch: boolean): void => {
      const id = (req as Msg).id ?? '0';
      const which = (req as Msg).op as OpName | undefined;
      const reply = (body: Msg): void => {
        inflight--;
        answers.add({ id, ...body }, inBatch);
        finishIfDone();
      };
      inflight++;
      try {
        ctx.connections.enterRequest(conn);
      } catch (e) {
        const st = toStatus(e);
        reply({ error: { code: st.code, message: st.details, failed_op: -1 } });
        return;
      }
      let p: Promise<Msg>;
      if (isBatch(req)) {
        p = Promise.reject(
          invalid(
            inBatch
              ? 'a ClientRequest inside a batch cannot carry a batch of its own'
              : 'a ClientRequest with a batch sets nothing else: send the operation as its own entry',
          ),
        );
      } else if (which === undefined || !(which in (req as Msg))) {
        p = Promise.reject(invalid('ClientRequest sets no operation'));
      } else if (WRITES.has(which)) {
        try {
          // Per request, not per stream: auth may be switched on while the stream is open, and a
          // token expires (verified tokens are cached, so this is a map lookup).
          p = ops.dispatch(which, (req as Msg)[which], ops.defaultDeadline(), ctx.auth.identify(call));
        } catch (e) {
          p = Promise.reject(asError(e));
        }
        lastWrite = p.catch(() => undefined);
      } else {
        p = lastWrite.then(() =>
          ops.dispatch(which, (req as Msg)[which], ops.defaultDeadline(), ctx.auth.identify(call)),
        );
      }
      p.then(
        (res) => {
          ctx.connections.leaveRequest(conn);
          reply({ [which as string]: res });
        },
        (e: unknown) => {
          ctx.connections.leaveRequest(conn);
          const st = toStatus(e);
          if (st.code === grpc.status.INTERNAL) log.error({ err: e }, 'internal error on session stream');
          reply({ error: { code: st.code, message: st.details, failed_op: st.failedOp } });
        },
      );
    };
    call.on('data', (req: unknown) => {
      // A batch that also sets an operation is refused whole, under its own id (handle()).
      if (req !== PACK_TOO_BIG && (!isBatch(req) || (req as Msg).op !== undefined)) {
        handle(req, false);
        return;
      }
      const pack = (req as Msg).batch as unknown[];
      if (req === PACK_TOO_BIG || pack.length > MAX_PACK) {
        // Handled in one go, a pack this size would hold the event loop for everyone else. The
        // answers already given go out first: their requests were applied.
        answers.flush();
        const e = new MemberError(
          'resourceExhausted',
          `a ClientRequest batch carries at most ${MAX_PACK} requests: send the rest in further messages`,
        );
        call.emit('error', serviceError(toStatus(e)));
        return;
      }
      for (const r of pack) handle(r, true);
    });
    call.on('end', () => {
      ended = true;
      finishIfDone();
    });
    call.on('error', () => undefined);
  };

  return {
    Create: unary((r, d, c) => ops.create(r, d, ctx.auth.identify(c))),
    Get: unary((r, d, c) => ops.get(r, d, ctx.auth.identify(c))),
    Set: unary((r, d, c) => ops.set(r, d, ctx.auth.identify(c))),
    Delete: unary((r, d, c) => ops.delete(r, d, ctx.auth.identify(c))),
    Exists: unary((r, d, c) => ops.exists(r, d, ctx.auth.identify(c))),
    GetChildren: unary((r, d, c) => ops.get_children(r, d, ctx.auth.identify(c))),
    Multi: unary((r, d, c) => ops.multi(r, d, ctx.auth.identify(c))),
    Sync: unary((r, d, c) => ops.sync(r, d, ctx.auth.identify(c))),
    OpenSession: unary((r, d, call) => ops.openSession(r, d, budgetKey(call, ctx.auth.identify(call)))),
    CloseSession: unary((r, d) => ops.closeSession(r, d)),
    Watch: watch,
    WatchMany: watchManyHandler({
      connections: ctx.connections,
      maxBacklog: ctx.member.watches.maxBacklog,
      identify: (call) => ctx.auth.identify(call),
      visible: (e, who) => ctx.member.tree.allowed(e.acl, who ?? [], PERM.read),
      open: openWatch,
      cancel: (id) => ctx.member.watches.cancel(id),
      encoder,
    }),
    KeepAlive: keepAlive,
    Stream: stream,
  };
}

/** A refusal if the ops of `m` carry more than `max` bytes of znode data in total. */
function multiDataExceeds(m: Extract<Command, { type: 'multi' }>, max: number): TreeFailure | undefined {
  let total = 0;
  for (const op of m.ops) if (op.type === 'create' || op.type === 'set') total += op.data.length;
  if (total <= max) return undefined;
  return new TreeFailure(
    treeError(
      'limitExceeded',
      `multi carries ${total} bytes of data; the limit is ${max} (--max-request-data-bytes): split it into smaller transactions`,
    ),
  );
}

function toMemberError(e: unknown): MemberError {
  if (e instanceof TreeFailure) {
    return new MemberError(e.error.code === 'noNode' ? 'notFound' : 'invalidArgument', e.error.message);
  }
  return new MemberError('internal', e instanceof Error ? e.message : String(e));
}
