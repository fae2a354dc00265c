/**
 * Real clusters for integration tests: each member is its own `node dist/cli/server.js`
 * process on loopback with its own data directory (built by `npm run build`, which `npm test`
 * runs first). Clients are plain grpc-js stubs generated from the proto at run time, exactly what
 * any other language would use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freePort, sleep, until } from '../../src/bench/proc-cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SERVER_JS = path.join(ROOT, 'dist/cli/server.js');
export const PROTO_DIR = path.join(ROOT, 'proto');

/** The public API's proto, loaded once (test helpers build their own stubs from it). */
export const ARBOR_PROTO = protoLoader.loadSync('arbor/v1/arbor.proto', {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(ARBOR_PROTO) as unknown as {
  arbor: { v1: { Arbor: grpc.ServiceClientConstructor; Cluster: grpc.ServiceClientConstructor } };
};

export type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** A stub for arbor.v1.Arbor at `addr`, outside any TestCluster (in-process members, one-off connections). */
export function arborStub(
  addr: string,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): Stub {
  return new pkg.arbor.v1.Arbor(addr, creds, options) as unknown as Stub;
}
export type Msg = Record<string, any>;

export { freePort, sleep, until };

export interface MemberProc {
  readonly id: number;
  readonly clientAddr: string;
  readonly peerAddr: string;
  readonly httpAddr: string;
  readonly dataDir: string;
  proc: ChildProcess | undefined;
  /** Set for members that joined a running cluster: the --initial-cluster they were given. */
  joinedWith?: string;
  /** Last lines of stderr/stdout, for failure messages. */
  output: string[];
}

export interface ClusterOptions {
  readonly size?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly extraArgs?: readonly string[];
  /** Credentials for the test's own stubs (TLS clusters); insecure by default. */
  readonly clientCredentials?: grpc.ChannelCredentials;
  /** Runs for each founding member before its process starts (e.g. to seed its data directory). */
  readonly prepare?: (m: MemberProc, founders: string) => void;
}

export class TestCluster {
  readonly members: MemberProc[] = [];
  private readonly stubs: grpc.Client[] = [];

  private constructor(
    readonly dir: string,
    private readonly opts: Required<Pick<ClusterOptions, 'tickMs' | 'electionTicks'>> & ClusterOptions,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-it-'));
    const c = new TestCluster(dir, {
      tickMs: opts.tickMs ?? 25,
      electionTicks: opts.electionTicks ?? 10,
      ...opts,
    });
    const size = opts.size ?? 3;
    for (let i = 1; i <= size; i++) {
      c.members.push({
        id: i,
        clientAddr: `127.0.0.1:${await freePort()}`,
        peerAddr: `127.0.0.1:${await freePort()}`,
        httpAddr: `127.0.0.1:${await freePort()}`,
        dataDir: path.join(dir, `m${i}`),
        proc: undefined,
        output: [],
      });
    }
    for (const m of c.members) opts.prepare?.(m, c.founders);
    for (const m of c.members) c.spawn(m);
    await c.waitForLeader();
    return c;
  }

  private foundersFlag = '';

  /** The founding members, as --initial-cluster. */
  get founders(): string {
    if (this.foundersFlag === '') {
      this.foundersFlag = this.members.map((m) => `${m.id}=${m.peerAddr}|${m.clientAddr}`).join(',');
    }
    return this.foundersFlag;
  }

  /** Starts a new member process that joins the running cluster (add it with AddMember). */
  async spawnJoiner(id: number): Promise<MemberProc> {
    const m: MemberProc = {
      id,
      clientAddr: `127.0.0.1:${await freePort()}`,
      peerAddr: `127.0.0.1:${await freePort()}`,
      httpAddr: `127.0.0.1:${await freePort()}`,
      dataDir: path.join(this.dir, `m${id}`),
      proc: undefined,
      joinedWith: this.founders,
      output: [],
    };
    this.members.push(m);
    this.spawn(m);
    return m;
  }

  spawn(m: MemberProc): void {
    const args = [
      SERVER_JS,
      '--id',
      String(m.id),
      '--client-addr',
      m.clientAddr,
      '--peer-addr',
      m.peerAddr,
      '--http-addr',
      m.httpAddr,
      '--initial-cluster',
      m.joinedWith ?? this.founders,
      ...(m.joinedWith !== undefined ? ['--join'] : []),
      '--data-dir',
      m.dataDir,
      '--tick-ms',
      String(this.opts.tickMs),
      '--election-ticks',
      String(this.opts.electionTicks),
      '--log-level',
      'warn',
      ...(this.opts.extraArgs ?? []),
    ];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      m.output.push(
        ...b
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      if (m.output.length > 200) m.output.splice(0, m.output.length - 200);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    m.proc = proc;
  }

  /** SIGKILL: nothing is flushed, nothing is handed over. */
  async kill(id: number): Promise<void> {
    const m = this.member(id);
    const p = m.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
    m.proc = undefined;
  }

  /** SIGTERM: graceful stop (hands leadership over). */
  async terminate(id: number): Promise<number | null> {
    const m = this.member(id);
    const p = m.proc;
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const code = await exited;
    m.proc = undefined;
    return code;
  }

  restart(id: number): void {
    this.spawn(this.member(id));
  }

  member(id: number): MemberProc {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  private creds(): grpc.ChannelCredentials {
    return this.opts.clientCredentials ?? grpc.credentials.createInsecure();
  }

  arbor(id: number): Stub {
    const s = new pkg.arbor.v1.Arbor(this.member(id).clientAddr, this.creds()) as unknown as Stub;
    this.stubs.push(s);
    return s;
  }

  cluster(id: number): Stub {
    const s = new pkg.arbor.v1.Cluster(this.member(id).clientAddr, this.creds()) as unknown as Stub;
    this.stubs.push(s);
    return s;
  }

  /** Polls Status on live members until all live members agree on one leader. */
  async waitForLeader(timeoutMs = 30_000, exclude: readonly number[] = []): Promise<number> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const leaders = new Set<number>();
      let answered = 0;
      let live = 0;
      for (const m of this.members) {
        if (!m.proc || exclude.includes(m.id)) continue;
        live++;
        try {
          const st = await call(this.cluster(m.id), 'Status', {}, 1000);
          answered++;
          leaders.add(Number(st.leader_id));
        } catch {
          /* not up yet */
        }
      }
      const [only] = [...leaders];
      if (
        answered === live &&
        leaders.size === 1 &&
        only !== undefined &&
        only > 0 &&
        !exclude.includes(only)
      )
        return only;
      if (Date.now() > until) {
        throw new Error(
          `no agreed leader after ${timeoutMs} ms (saw ${[...leaders].join(',')})\n${this.logs()}`,
        );
      }
      await sleep(100);
    }
  }

  logs(): string {
    return this.members.map((m) => `--- m${m.id}\n${m.output.slice(-30).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const s of this.stubs) s.close();
    await Promise.all(this.members.map((m) => this.kill(m.id)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface GrpcError extends Error {
  code: number;
  details: string;
  metadata: grpc.Metadata;
}

export function call(stub: Stub, method: string, req: Msg, timeoutMs = 10_000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (stub[method] as (r: Msg, o: grpc.CallOptions, cb: (e: GrpcError | null, r: Msg) => void) => void).call(
      stub,
      req,
      { deadline: Date.now() + timeoutMs, waitForReady: true },
      (e, r) => (e ? reject(e) : resolve(r)),
    );
  });
}

/** The status code a call fails with (or throws if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (e) {
    return e as GrpcError;
  }
  throw new Error('expected the call to fail');
}

/** What a server stream sent so far: its responses, and how it ended (if it has). */
export interface Recorded {
  readonly responses: Msg[];
  error: GrpcError | undefined;
  ended: boolean;
}

/** Starts recording `call` into `into` (its responses, its error, its end). */
export function recordStream<T extends Recorded>(call: grpc.ClientReadableStream<Msg>, into: T): T {
  call.on('data', (r: Msg) => into.responses.push(r));
  call.on('error', (e: GrpcError) => {
    into.error = e;
    into.ended = true;
  });
  call.on('end', () => {
    into.ended = true;
  });
  return into;
}

/** Collects a watch stream's responses. */
export function watchStream(stub: Stub, req: Msg): Recorded & { cancel(): void } {
  const call = (stub.Watch as (r: Msg) => grpc.ClientReadableStream<Msg>).call(stub, req);
  return recordStream(call, { responses: [], error: undefined, ended: false, cancel: () => call.cancel() });
}

export function events(w: { responses: Msg[] }): Msg[] {
  return w.responses.flatMap((r) => (r.events as Msg[] | undefined) ?? []);
}

/** Retryable: the write was not applied (UNAVAILABLE, ABORTED) or its outcome is unknown (DEADLINE_EXCEEDED). */
const RETRYABLE = new Set([4, 10, 14]);

/**
 * A client that creates sequential children of `parent`, each carrying its op id as data, with an
 * exactly-once header, retrying every write with the SAME sequence on the next member until it is
 * acknowledged. `acked` collects acknowledged op ids; `stop.now` ends it early.
 */
export async function exactlyOnceWriter(
  stubs: () => Stub[],
  parent: string,
  clientId: string,
  count: number,
  acked: string[],
  stop: { now: boolean },
): Promise<void> {
  let target = 0;
  for (let seq = 1; seq <= count && !stop.now; seq++) {
    const op = `${clientId}:${seq}`;
    for (let attempt = 0; ; attempt++) {
      const s = stubs();
      const stub = s[target % s.length]!;
      try {
        await call(
          stub,
          'Create',
          {
            path: `${parent}/op-`,
            mode: 2,
            data: Buffer.from(op),
            header: { client_id: clientId, sequence: seq, first_unacked: seq },
          },
          2000,
        );
        acked.push(op);
        break;
      } catch (e) {
        const code = (e as GrpcError).code;
        if (!RETRYABLE.has(code)) throw e;
        if (attempt > 300) throw new Error(`gave up on ${op}`, { cause: e });
        target++;
        await sleep(20);
      }
    }
  }
}

/** Waits until every live member reports the same applied index and tree digest. */
export async function converged(c: TestCluster, ids: readonly number[], timeoutMs = 30_000): Promise<Msg[]> {
  return until(
    async () => {
      const sts = await Promise.all(ids.map((i) => call(c.cluster(i), 'Status', {}, 2000)));
      const applied = new Set(sts.map((s) => s.applied_index as string));
      const digests = new Set(sts.map((s) => s.digest as string));
      return applied.size === 1 && digests.size === 1 ? sts : undefined;
    },
    timeoutMs,
    `members ${ids.join(',')} to converge`,
  );
}

/** Every op id stored under `parent` (read from one member), with how often it appears. */
export async function opsUnder(stub: Stub, parent: string): Promise<Map<string, number>> {
  const kids = await call(stub, 'GetChildren', { path: parent });
  const seen = new Map<string, number>();
  for (const n of kids.children as string[]) {
    const r = await call(stub, 'Get', { path: `${parent}/${n}`, consistency: 1 });
    const op = (r.data as Buffer).toString();
    seen.set(op, (seen.get(op) ?? 0) + 1);
  }
  return seen;
}

/**
 * The status code of one raw unary call with `bytes` as the request (0 for OK), made on a fresh
 * channel with `creds`: for probing what a port accepts (TLS, hostile bytes).
 */
export async function rawStatus(
  addr: string,
  creds: grpc.ChannelCredentials,
  method: string,
  bytes: Uint8Array = new Uint8Array(0),
  timeoutMs = 5000,
): Promise<number> {
  const client = new grpc.Client(addr, creds);
  try {
    return await new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        { deadline: Date.now() + timeoutMs },
        (e) => resolve(e ? (e.code ?? -1) : 0),
      );
    });
  } finally {
    client.close();
  }
}
