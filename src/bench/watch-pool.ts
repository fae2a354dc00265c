/**
 * The scale sweep's watch consumers: raw watches on one member over `n` TCP connections. They run
 * in a worker thread of their own (`WatchPoolClient`), so decoding tens of thousands of events a
 * second does not share an event loop with the put load whose slowdown the sweep measures.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { loadArborProtos } from '../client/proto.js';
import { unpacked, type WireWatchManyResponse } from '../client/watch-decode.js';
import { Progress } from './progress.js';
import { scalePath } from './scale-paths.js';

export type WatchApi = 'many' | 'watch';

/** Responses come decoded by the client's own decoder (loadArborProtos). */
type WatchManyCall = grpc.ClientDuplexStream<unknown, WireWatchManyResponse>;

/**
 * Raw watches on one member over `n` TCP connections: one Watch call per watch (`watch`), or one
 * WatchMany stream per connection carrying all of that connection's watches (`many`).
 */
export class WatchPool {
  private readonly conns: grpc.Client[];
  private readonly calls: grpc.ClientReadableStream<unknown>[] = [];
  /** `many`: the stream of each connection, and the resolvers of creates not yet answered. */
  private readonly streams: WatchManyCall[] = [];
  private readonly pending = new Map<string, () => void>();
  /** `many`: streams that ended (their creates are counted as errors, never answered). */
  private readonly dead = new Set<number>();
  private opened = 0;
  readonly errors = new Map<string, number>();

  constructor(
    endpoint: string,
    n: number,
    private readonly api: WatchApi,
    /** Called with the number of events in each response. */
    private readonly onEvents: (n: number) => void,
  ) {
    const { Arbor } = loadArborProtos();
    // A local subchannel pool per client: otherwise grpc-js shares one TCP connection between
    // every client of the same address, and every watch would sit on one connection.
    this.conns = Array.from(
      { length: n },
      () =>
        new Arbor(endpoint, grpc.credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1,
        }),
    );
  }

  get size(): number {
    return this.opened;
  }

  private countError(code: number): void {
    const label = grpc.status[code] ?? String(code);
    this.errors.set(label, (this.errors.get(label) ?? 0) + 1);
  }

  private stream(i: number): WatchManyCall {
    const have = this.streams[i];
    if (have) return have;
    const conn = this.conns[i]!;
    const call = (conn as unknown as Record<string, () => WatchManyCall>)['WatchMany']!.call(conn);
    call.on('data', (msg: WireWatchManyResponse) => {
      for (const res of unpacked(msg)) {
        if (res.events.length > 0) this.onEvents(res.events.length);
        if (!res.created && !res.canceled) continue;
        if (res.canceled && res.error) this.countError(res.error.code);
        const done = this.pending.get(res.watchId);
        this.pending.delete(res.watchId);
        done?.();
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) this.countError(e.code);
      this.dead.add(i);
      // Nothing more will be answered on this stream.
      for (const [id, done] of this.pending) {
        if (Number(id) % this.conns.length === i) {
          this.pending.delete(id);
          done();
        }
      }
    });
    this.streams[i] = call;
    return call;
  }

  get connCount(): number {
    return this.conns.length;
  }

  /** Opens watches up to `total` (watch j on scalePath(j % keys)); resolves when all are created. */
  async openTo(total: number, keys: number, onAnswered: () => void): Promise<void> {
    let next = this.opened;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < total) {
          const j = next++;
          await this.open(j, scalePath(j % keys));
          onAnswered();
        }
      }),
    );
  }

  private open(j: number, path: string): Promise<void> {
    this.opened++;
    if (this.api === 'many') {
      const i = j % this.conns.length;
      const call = this.stream(i);
      if (this.dead.has(i)) {
        this.countError(grpc.status.UNAVAILABLE);
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        this.pending.set(String(j), resolve);
        call.write({ create: { watchId: String(j), path, scope: 'NODE', startRevision: '0', batch: true } });
      });
    }
    const conn = this.conns[j % this.conns.length]!;
    const watch = (conn as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>)[
      'Watch'
    ]!;
    const call = watch.call(conn, { path, scope: 'NODE', startRevision: '0' });
    this.calls.push(call);
    return new Promise<void>((resolve) => {
      let created = false;
      call.on('data', (res: { created?: boolean; events?: unknown[] }) => {
        if (res.created && !created) {
          created = true;
          resolve();
        }
        if (res.events?.length) this.onEvents(res.events.length);
      });
      call.on('error', (e: grpc.ServiceError) => {
        if (e.code === grpc.status.CANCELLED) return;
        this.countError(e.code);
        resolve();
      });
    });
  }

  close(): void {
    for (const c of this.calls) c.cancel();
    for (const s of this.streams) s.cancel();
    for (const c of this.conns) c.close();
  }
}

type Request =
  { readonly op: 'open'; readonly total: number; readonly keys: number } | { readonly op: 'close' };
interface Reply {
  readonly errors: [string, number][];
}

/** Slots of the shared counters. */
const EVENTS = 0;
const ANSWERED = 1;

/**
 * A WatchPool in a worker thread. Events and answered creates are counted in shared memory (read
 * any time without a message); opening resolves once every watch is created or refused.
 */
export class WatchPoolClient {
  private readonly counter: Int32Array;
  readonly errors = new Map<string, number>();
  private waiting: { resolve(r: Reply): void; reject(e: unknown): void } | undefined;

  private constructor(
    private readonly worker: Worker,
    shared: SharedArrayBuffer,
    readonly connCount: number,
  ) {
    this.counter = new Int32Array(shared);
    const settle = (): NonNullable<typeof this.waiting> | undefined => {
      const w = this.waiting;
      this.waiting = undefined;
      return w;
    };
    worker.on('message', (r: Reply) => {
      this.errors.clear();
      for (const [k, v] of r.errors) this.errors.set(k, v);
      settle()?.resolve(r);
    });
    worker.on('error', (e: unknown) => settle()?.reject(e));
  }

  static async start(endpoint: string, conns: number, api: WatchApi): Promise<WatchPoolClient> {
    const shared = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    const worker = new Worker(new URL(import.meta.url), { workerData: { endpoint, conns, api, shared } });
    await new Promise<void>((resolve, reject) => {
      worker.once('online', resolve);
      worker.once('error', reject);
    });
    return new WatchPoolClient(worker, shared, conns);
  }

  get events(): number {
    return Atomics.load(this.counter, EVENTS);
  }

  async openTo(total: number, keys: number, label: string): Promise<void> {
    const start = Atomics.load(this.counter, ANSWERED);
    const progress = new Progress(label, () => {
      const done = Atomics.load(this.counter, ANSWERED);
      return [done - start, total - start, done];
    });
    progress.start();
    try {
      await this.ask({ op: 'open', total, keys });
    } finally {
      progress.stop();
    }
  }

  async close(): Promise<void> {
    await this.ask({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private ask(req: Request): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(req);
    });
  }
}

/** The worker side: one WatchPool, its event count mirrored into the shared counter. */
function serveWorker(): void {
  const port = parentPort;
  if (port === null) return;
  const d = workerData as { endpoint: string; conns: number; api: WatchApi; shared: SharedArrayBuffer };
  const counter = new Int32Array(d.shared);
  const pool = new WatchPool(d.endpoint, d.conns, d.api, (n) => Atomics.add(counter, EVENTS, n));
  port.on('message', (req: Request) => {
    const reply = (): void => port.postMessage({ errors: [...pool.errors] } satisfies Reply);
    if (req.op === 'close') {
      pool.close();
      reply();
      return;
    }
    pool.openTo(req.total, req.keys, () => Atomics.add(counter, ANSWERED, 1)).then(reply, reply);
  });
}

if (!isMainThread) serveWorker();
