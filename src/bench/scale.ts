/**
 * Scale (issue #7): what a member costs when the tree is large and when many watches are open.
 *
 * Znode sweep, on one cluster the tool starts: for each N in `znodes` (ascending) the tree is
 * grown to N znodes of `valueSize` bytes (Multi batches of creates, many in flight, over the
 * pipelined Stream path), then
 *   - every member's memory is sampled (RSS, peak RSS, V8 heap),
 *   - a put load runs for `putMs` (`clients` outstanding over `conns` connections, random
 *     znodes of the N),
 *   - a follower is killed with SIGKILL and started again on its data; the restart is timed to
 *     /readyz answering 200 and to the first linearizable read through it succeeding.
 * Watch sweep, on a second fresh cluster holding `watchKeys` znodes: for each W in `watches`
 * (0 first, as the baseline) W watches (scope NODE, spread evenly over the znodes) are open on
 * ONE member — the leader, the member every write goes through — over `watchConns` TCP
 * connections (one WatchMany stream each, or with `watchApi: 'watch'` one Watch call per
 * watch); that member's memory is sampled, and the same put load runs twice: on znodes
 * nobody watches, and on the watched znodes (every write fires W / watchKeys events). With
 * `rounds` > 1 each round opens fresh streams and visits every W in turn, 0 first, so that the
 * rows' loads are spread over the same stretch of time.
 *
 * The load generator shares the machine with the members, so the load average is recorded with
 * every row.
 */
import os from 'node:os';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ArborClient, ArborError, NodeExistsError } from '../client/index.js';
import type { Op } from '../client/index.js';
import type { ArborCluster } from './arbor-system.js';
import { sampleMemory, type MemorySample } from './member-memory.js';
import { sleep, until } from './proc-cluster.js';
import { selfCpuMicros, totalCpuMicros } from './proc-cpu.js';
import { Progress } from './progress.js';
import { Recorder, nowMs } from './recorder.js';
import { makeValue } from './workloads.js';
import { PER_DIR, ROOT_PATH, scalePath } from './scale-paths.js';
import { WatchPoolClient, type WatchApi } from './watch-pool.js';

export interface ScaleOptions {
  /** Tree sizes to measure, ascending. */
  readonly znodes: readonly number[];
  /** Watch counts to measure on one member, ascending (0, the baseline, is always added). */
  readonly watches: readonly number[];
  /** Znodes on the watch cluster (the watched ones). */
  readonly watchKeys: number;
  readonly valueSize: number;
  /** Creates per Multi while loading. */
  readonly batch: number;
  /** Multis in flight while loading. */
  readonly loadOutstanding: number;
  /** Put load: outstanding requests and connections. */
  readonly clients: number;
  readonly conns: number;
  readonly putMs: number;
  /** TCP connections the watches are spread over; default one per 5,000 watches. */
  readonly watchConns: number | undefined;
  /**
   * How watches are opened: `many` (default) multiplexes a connection's watches over one WatchMany
   * stream; `watch` opens one Watch call (one HTTP/2 stream) per watch, the old way.
   */
  readonly watchApi?: WatchApi;
  /** Pause before sampling memory, so the members finish what the last step queued. */
  readonly settleMs: number;
  /**
   * Unwatched and watched put loads alternate this many times per watch count; the row reports
   * the median of each. This VM's speed drifts by tens of percent within minutes: one 3 s load
   * per column is not enough to tell a 10% change.
   */
  readonly rounds?: number;
  /** Starts a fresh cluster; each sweep gets its own and stops it. */
  readonly startCluster: () => Promise<ArborCluster>;
}

export type { WatchApi } from './watch-pool.js';

export interface PutSummary {
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: Record<string, number>;
  /** CPU µs per put summed over the three members. */
  readonly serverCpuUsPerOp: number;
  /** CPU µs per put of this process: the put clients and, in the watch sweep, the watch consumers' thread. */
  readonly clientCpuUsPerOp: number;
}

export interface RestartResult {
  /** Member index (0-based) that was killed and restarted. */
  readonly member: number;
  /** ms from spawn to /readyz answering 200. */
  readonly readyMs: number;
  /** ms from spawn to the first linearizable read through the member succeeding. */
  readonly readMs: number;
  /** The restarted member once it serves (peak RSS = the peak of its restore). */
  readonly memory: MemorySample;
}

export interface ZnodeRow {
  readonly znodes: number;
  /** Znodes the tree holds under the scale root after loading (counted, not assumed). */
  readonly counted: number;
  /** Seconds to load this step (from the previous size). */
  readonly loadSec: number;
  readonly loadPerSec: number;
  /** Member i at index i, sampled after loading. */
  readonly members: readonly MemorySample[];
  readonly put: PutSummary;
  readonly restart: RestartResult;
  readonly loadAvg: readonly number[];
}

export interface WatchRow {
  readonly watches: number;
  readonly conns: number;
  /** Seconds to open this step's watches (from the previous count, in the memory pass), each confirmed created. */
  readonly openSec: number;
  readonly openErrors: Record<string, number>;
  /**
   * The watch member with this row's watches open and settled, sampled in a first pass that opens
   * every row's watches before any measured put load: against the 0-watch sample, what the
   * watches themselves hold.
   */
  readonly memoryOpen: MemorySample;
  readonly rssDeltaOpenMB: number;
  /** The watch member after this row's put loads (event history and buffers included). */
  readonly memory: MemorySample;
  readonly rssDeltaMB: number;
  readonly heapDeltaMB: number | undefined;
  /** The median round of each (by ops/s); `rounds` lists every round's ops/s. */
  readonly putUnwatched: PutSummary;
  readonly putWatched: PutSummary;
  readonly rounds: { readonly unwatched: readonly number[]; readonly watched: readonly number[] };
  /**
   * Throughput change vs 0 watches, in percent (negative = slower): each round's load against the
   * same round's 0-watch load, the median of those changes.
   */
  readonly unwatchedChangePct: number;
  readonly watchedChangePct: number;
  /**
   * Watched vs unwatched puts at this watch count, in percent: what delivering the events costs,
   * from loads run alternately (so the machine's drift mostly cancels); paired per round as above.
   */
  readonly watchedVsUnwatchedPct: number;
  /** Events received during the watched put loads, and the share of the expected ones. */
  readonly events: number;
  readonly deliveredPct: number;
  readonly loadAvg: readonly number[];
}

export interface ScaleResult {
  readonly conditions: {
    readonly cpus: number;
    readonly totalMemMB: number;
    readonly node: string;
    readonly loadAvgStart: readonly number[];
    readonly loadAvgEnd: readonly number[];
    readonly valueSize: number;
    readonly clients: number;
    readonly conns: number;
    readonly putMs: number;
    /** Alternating unwatched/watched put loads per watch count (medians reported). */
    readonly rounds: number;
  };
  readonly znodes: readonly ZnodeRow[];
  /** Which member held the watches (0-based) and its role. */
  readonly watchMember: number | undefined;
  readonly watchApi: WatchApi;
  readonly watches: readonly WatchRow[];
}

const UNWATCHED_ROOT = '/scale-u';
const UNWATCHED_KEYS = 1_000;

function unwatchedPath(i: number): string {
  return `${UNWATCHED_ROOT}/k${i}`;
}

const loadAvg = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

function errorLabel(e: unknown): string {
  if (e instanceof ArborError) return grpc.status[e.code] ?? `code ${e.code}`;
  return e instanceof Error ? e.name : 'unknown';
}

function bulkClients(endpoints: readonly string[], n: number): ArborClient[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new ArborClient({
        endpoints: endpoints.map((_, j) => endpoints[(i + j) % endpoints.length]!),
        transport: 'stream',
        defaultDeadlineMs: 60_000,
        attemptTimeoutMs: 20_000,
      }),
  );
}

async function closeAll(clients: readonly ArborClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

async function createIgnoringExists(c: ArborClient, path: string): Promise<void> {
  try {
    await c.create(path);
  } catch (e) {
    if (!(e instanceof NodeExistsError)) throw e;
  }
}

/** What exists of the scale tree so far. */
interface TreeState {
  loaded: number;
  dirs: number;
}

/** Grows the tree from state.loaded to `to` znodes; returns the elapsed ms. */
async function loadTo(
  clients: readonly ArborClient[],
  state: TreeState,
  to: number,
  value: Buffer,
  opts: ScaleOptions,
): Promise<number> {
  const t0 = nowMs();
  const c0 = clients[0]!;
  if (state.loaded === 0 && state.dirs === 0) await createIgnoringExists(c0, ROOT_PATH);
  const dirsNeeded = Math.ceil(to / PER_DIR);
  const dirOps: Op[] = [];
  for (let d = state.dirs; d < dirsNeeded; d++) dirOps.push({ type: 'create', path: `${ROOT_PATH}/d${d}` });
  for (let i = 0; i < dirOps.length; i += opts.batch) await c0.multi(dirOps.slice(i, i + opts.batch));
  state.dirs = Math.max(state.dirs, dirsNeeded);

  const from = state.loaded;
  let next = from;
  let done = from;
  const progress = new Progress(`scale load ${to}`, () => [done - from, to - from, done]);
  progress.start();
  try {
    await Promise.all(
      Array.from({ length: opts.loadOutstanding }, async (_, w) => {
        const c = clients[w % clients.length]!;
        while (next < to) {
          const start = next;
          const end = Math.min(to, start + opts.batch);
          next = end;
          const ops: Op[] = [];
          for (let i = start; i < end; i++) ops.push({ type: 'create', path: scalePath(i), data: value });
          await c.multi(ops);
          done += end - start;
        }
      }),
    );
  } finally {
    progress.stop();
  }
  state.loaded = to;
  return nowMs() - t0;
}

/** Znodes under the scale root, summed from the directories' child counts. */
async function countZnodes(c: ArborClient, dirs: number): Promise<number> {
  let total = 0;
  for (let d = 0; d < dirs; d += 256) {
    const stats = await Promise.all(
      Array.from({ length: Math.min(256, dirs - d) }, (_, j) => c.exists(`${ROOT_PATH}/d${d + j}`)),
    );
    for (const s of stats) total += s.stat?.numChildren ?? 0;
  }
  return total;
}

/**
 * Closed-loop puts on `pathOf(random i < n)` for `opts.putMs`; `onAck(i)` runs per
 * acknowledged put (the watch sweep counts the events it expects).
 */
async function putLoad(
  cluster: ArborCluster,
  clients: readonly ArborClient[],
  n: number,
  pathOf: (i: number) => string,
  value: Buffer,
  opts: ScaleOptions,
  label: string,
  onAck: (i: number) => void = () => undefined,
): Promise<PutSummary> {
  // Warm every connection's stream before the clock starts.
  await Promise.all(clients.map((c) => c.get(pathOf(0), { consistency: 'serializable' })));
  const rec = new Recorder();
  const cpu0 = totalCpuMicros(cluster.pids());
  const self0 = selfCpuMicros();
  const t0 = nowMs();
  const deadline = t0 + opts.putMs;
  const progress = new Progress(label, () => [nowMs() - t0, opts.putMs, rec.count]);
  progress.start();
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, w) => {
      const c = clients[w % clients.length]!;
      while (nowMs() < deadline) {
        const i = Math.floor(Math.random() * n);
        const start = nowMs();
        try {
          await c.set(pathOf(i), value);
          rec.record(nowMs() - start);
          onAck(i);
        } catch (e) {
          rec.error(errorLabel(e));
        }
      }
    }),
  );
  const elapsed = nowMs() - t0;
  progress.stop();
  const cpu = totalCpuMicros(cluster.pids()) - cpu0;
  const self = selfCpuMicros() - self0;
  const s = rec.summary();
  return {
    ops: rec.count,
    opsPerSec: rec.count / (elapsed / 1000),
    p50Ms: s.p50Ms,
    p99Ms: s.p99Ms,
    errors: Object.fromEntries(rec.errors),
    serverCpuUsPerOp: rec.count > 0 ? cpu / rec.count : 0,
    clientCpuUsPerOp: rec.count > 0 ? self / rec.count : 0,
  };
}

function tcpAccepts(addr: string): Promise<boolean> {
  const sep = addr.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = net.connect({ host: addr.slice(0, sep), port: Number(addr.slice(sep + 1)) });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * SIGKILL member i and start it again on its data. Two clocks from the spawn: /readyz answering
 * 200, and a linearizable read through the member succeeding. The read client is created only
 * once the client port accepts connections, so grpc-js's reconnect backoff (1 s and more) does
 * not pad the time.
 */
async function timeRestart(cluster: ArborCluster, i: number, probe: string): Promise<RestartResult> {
  const endpoint = cluster.endpoints[i]!;
  const http = cluster.httpAddrs[i]!;
  const spawnedAt = await cluster.respawn(i);
  const timeoutMs = 180_000;
  const ready = until(
    async () => {
      const res = await fetch(`http://${http}/readyz`, { signal: AbortSignal.timeout(2_000) });
      return res.status === 200 ? nowMs() - spawnedAt : undefined;
    },
    timeoutMs,
    `member ${i + 1} /readyz after restart`,
  );
  const read = (async () => {
    await until(() => tcpAccepts(endpoint), timeoutMs, `member ${i + 1} client port after restart`);
    const c = new ArborClient({
      endpoints: [endpoint],
      attemptTimeoutMs: 1_000,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    try {
      return await until(
        async () => {
          await c.get(probe, { consistency: 'linearizable', deadlineMs: 2_000 });
          return nowMs() - spawnedAt;
        },
        timeoutMs,
        `a linearizable read through member ${i + 1} after restart`,
      );
    } finally {
      await c.close();
    }
  })();
  const [readyMs, readMs] = await Promise.all([ready, read]).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${cluster.logs()}`, { cause: e });
  });
  return { member: i, readyMs, readMs, memory: await sampleMemory(cluster.pidOf(i), http) };
}

async function sampleMembers(cluster: ArborCluster): Promise<MemorySample[]> {
  return Promise.all(cluster.endpoints.map((_, i) => sampleMemory(cluster.pidOf(i), cluster.httpAddrs[i]!)));
}

async function znodeSweep(opts: ScaleOptions): Promise<ZnodeRow[]> {
  const rows: ZnodeRow[] = [];
  if (opts.znodes.length === 0) return rows;
  const cluster = await opts.startCluster();
  const clients = bulkClients(cluster.endpoints, opts.conns);
  try {
    const value = makeValue(opts.valueSize);
    const state: TreeState = { loaded: 0, dirs: 0 };
    for (const [step, n] of opts.znodes.entries()) {
      const before = state.loaded;
      const loadMs = await loadTo(clients, state, n, value, opts);
      // Warm the members' set path (JIT, connections) before the first measured put load.
      if (step === 0) await putLoad(cluster, clients, n, scalePath, value, opts, 'scale warm-up');
      await sleep(opts.settleMs);
      const counted = await countZnodes(clients[0]!, state.dirs);
      const members = await sampleMembers(cluster);
      const put = await putLoad(cluster, clients, n, scalePath, value, opts, `scale put @${n}`);
      const leader = await cluster.leaderIndex();
      const restart = await timeRestart(cluster, (leader + 1) % cluster.endpoints.length, scalePath(n - 1));
      // The cluster is whole again before the next step loads more.
      await cluster.leaderIndex();
      rows.push({
        znodes: n,
        counted,
        loadSec: loadMs / 1000,
        loadPerSec: (n - before) / (loadMs / 1000),
        members,
        put,
        restart,
        loadAvg: loadAvg(),
      });
    }
  } finally {
    await closeAll(clients);
    await cluster.stop();
  }
  return rows;
}

async function watchSweep(opts: ScaleOptions): Promise<{ member: number | undefined; rows: WatchRow[] }> {
  const rows: WatchRow[] = [];
  if (opts.watches.length === 0) return { member: undefined, rows };
  const levels = [0, ...opts.watches.filter((w) => w > 0)];
  const max = levels[levels.length - 1]!;
  const cluster = await opts.startCluster();
  const clients = bulkClients(cluster.endpoints, opts.conns);
  let pool: WatchPoolClient | undefined;
  try {
    const value = makeValue(opts.valueSize);
    await loadTo(clients, { loaded: 0, dirs: 0 }, opts.watchKeys, value, opts);
    await createIgnoringExists(clients[0]!, UNWATCHED_ROOT);
    const unwatched: Op[] = Array.from({ length: UNWATCHED_KEYS }, (_, i) => ({
      type: 'create',
      path: unwatchedPath(i),
      data: value,
    }));
    for (let i = 0; i < unwatched.length; i += opts.batch)
      await clients[0]!.multi(unwatched.slice(i, i + opts.batch));
    const member = await cluster.leaderIndex();
    const http = cluster.httpAddrs[member]!;
    // Warm the members' set path (JIT, connections) so the 0-watch baseline is not a cold start.
    await putLoad(cluster, clients, UNWATCHED_KEYS, unwatchedPath, value, opts, 'scale warm-up');
    await putLoad(cluster, clients, opts.watchKeys, scalePath, value, opts, 'scale warm-up');
    const watchConns = opts.watchConns ?? Math.max(1, Math.ceil(max / 5_000));
    const startPool = (): Promise<WatchPoolClient> =>
      WatchPoolClient.start(cluster.endpoints[member]!, watchConns, opts.watchApi ?? 'many');
    // Memory first: each watch count opened in turn before any measured put load, so a sample
    // differs from the 0-watch one by what the watches hold (put loads leave event history and
    // freed-but-kept memory behind, which would be counted against the next row).
    pool = await startPool();
    const opened: { sec: number; memory: MemorySample }[] = [];
    // Refused or unanswered creates per count (a stream's counts include its earlier counts').
    const openErrors: Record<string, number>[] = [];
    for (const w of levels) {
      const t0 = nowMs();
      await pool.openTo(w, opts.watchKeys, `scale watches ${w} (memory)`);
      const sec = (nowMs() - t0) / 1000;
      await sleep(opts.settleMs);
      opened.push({ sec, memory: await sampleMemory(cluster.pidOf(member), http) });
      openErrors.push(Object.fromEntries(pool.errors));
    }
    await pool.close();
    pool = undefined;
    // Put loads: every round visits every watch count in turn (0 first, fresh streams each round),
    // so each count's rounds are spread over the same stretch of time as the baseline's and the
    // machine's drift lands on all of them alike; changes vs 0 are paired per round.
    const runs = levels.map(() => ({
      unwatched: [] as PutSummary[],
      watched: [] as PutSummary[],
      events: 0,
      expected: 0,
      memory: undefined as MemorySample | undefined,
    }));
    const rounds = Math.max(1, opts.rounds ?? 1);
    for (let r = 0; r < rounds; r++) {
      const tag = rounds > 1 ? ` (${r + 1}/${rounds})` : '';
      pool = await startPool();
      for (const [level, w] of levels.entries()) {
        const run = runs[level]!;
        await pool.openTo(w, opts.watchKeys, `scale watches ${w}${tag}`);
        const errors = openErrors[level]!;
        for (const [k, v] of pool.errors) errors[k] = Math.max(errors[k] ?? 0, v);
        await sleep(opts.settleMs);
        // Watchers of znode k: watch j is on k = j mod watchKeys.
        const perKey = (k: number): number =>
          Math.floor(w / opts.watchKeys) + (k < w % opts.watchKeys ? 1 : 0);
        let expected = 0;
        const events0 = pool.events;
        run.unwatched.push(
          await putLoad(
            cluster,
            clients,
            UNWATCHED_KEYS,
            unwatchedPath,
            value,
            opts,
            `scale put unwatched @${w}w${tag}`,
          ),
        );
        run.watched.push(
          await putLoad(
            cluster,
            clients,
            opts.watchKeys,
            scalePath,
            value,
            opts,
            `scale put watched @${w}w${tag}`,
            (k) => {
              expected += perKey(k);
            },
          ),
        );
        // Let this count's events drain before the next count's loads run.
        const p = pool;
        await until(() => p.events - events0 >= expected, 5_000).catch(() => undefined);
        run.events += pool.events - events0;
        run.expected += expected;
        if (r === rounds - 1) {
          await sleep(opts.settleMs);
          run.memory = await sampleMemory(cluster.pidOf(member), http);
        }
      }
      await pool.close();
      pool = undefined;
    }
    const base = runs[0]!;
    const baseMemory = base.memory!;
    for (const [level, w] of levels.entries()) {
      const run = runs[level]!;
      const { sec: openSec, memory: memoryOpen } = opened[level]!;
      const memory = run.memory!;
      const putUnwatched = median(run.unwatched);
      const putWatched = median(run.watched);
      rows.push({
        watches: w,
        conns: w === 0 ? 0 : watchConns,
        openSec,
        openErrors: openErrors[level]!,
        memoryOpen,
        rssDeltaOpenMB: memoryOpen.rssMB - opened[0]!.memory.rssMB,
        memory,
        rssDeltaMB: memory.rssMB - baseMemory.rssMB,
        heapDeltaMB:
          memory.heapUsedMB === undefined || baseMemory.heapUsedMB === undefined
            ? undefined
            : memory.heapUsedMB - baseMemory.heapUsedMB,
        putUnwatched,
        putWatched,
        rounds: {
          unwatched: run.unwatched.map((x) => x.opsPerSec),
          watched: run.watched.map((x) => x.opsPerSec),
        },
        unwatchedChangePct: pairedChange(run.unwatched, base.unwatched),
        watchedChangePct: pairedChange(run.watched, base.watched),
        watchedVsUnwatchedPct: pairedChange(run.watched, run.unwatched),
        events: run.events,
        deliveredPct: run.expected === 0 ? 100 : (100 * run.events) / run.expected,
        loadAvg: loadAvg(),
      });
    }
    return { member, rows };
  } finally {
    await pool?.close();
    await closeAll(clients);
    await cluster.stop();
  }
}

/** Percent change of `now` against `then`, round by round; the median round's change. */
function pairedChange(now: readonly PutSummary[], then: readonly PutSummary[]): number {
  const changes = now
    .map((x, i) => {
      const t = then[i]?.opsPerSec ?? 0;
      return t === 0 ? 0 : (100 * (x.opsPerSec - t)) / t;
    })
    .sort((a, b) => a - b);
  return changes[Math.floor((changes.length - 1) / 2)] ?? 0;
}

/** The run with the median throughput (the lower middle one of an even count). */
function median(runs: readonly PutSummary[]): PutSummary {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export async function runScale(opts: ScaleOptions): Promise<ScaleResult> {
  const loadAvgStart = loadAvg();
  const znodes = await znodeSweep(opts);
  const watches = await watchSweep(opts);
  return {
    conditions: {
      cpus: os.cpus().length,
      totalMemMB: Math.round(os.totalmem() / 1024 / 1024),
      node: process.version,
      loadAvgStart,
      loadAvgEnd: loadAvg(),
      valueSize: opts.valueSize,
      clients: opts.clients,
      conns: opts.conns,
      putMs: opts.putMs,
      rounds: Math.max(1, opts.rounds ?? 1),
    },
    znodes,
    watchMember: watches.member,
    watchApi: opts.watchApi ?? 'many',
    watches: watches.rows,
  };
}
