/**
 * The workloads, modelled on etcd's `benchmark` tool: a closed loop of `clients` outstanding
 * requests spread over `conns` connections, random keys from a fixed key space, for a duration
 * or a total op count. Every system implements BenchSystem, so the loop, clocks and counters
 * are the same for Arbor, etcd and ZooKeeper.
 */
import type { BenchConn, BenchSystem, ManagedCluster } from './driver-interface.js';
import { totalCpuMicros, selfCpuMicros } from './proc-cpu.js';
import { Progress } from './progress.js';
import { Recorder, nowMs, type LatencySummary } from './recorder.js';
import { sleep } from './proc-cluster.js';

export type LoadKind = 'put' | 'create' | 'get' | 'get-serializable' | 'mixed';
export type WorkloadName = LoadKind | 'watch' | 'failover';

export interface LoadOptions {
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly conns: number;
  readonly valueSize: number;
  readonly keys: number;
  /** Run for this long, unless `total` is set. */
  readonly durationMs: number;
  /**
   * Run the same load this long first, unrecorded: JIT compilers (V8, the JVM) and caches reach
   * their steady state before the clock starts. 0 measures from a cold start.
   */
  readonly warmupMs: number;
  readonly total: number | undefined;
  /** mixed: fraction of reads (linearizable). */
  readonly readRatio: number;
  /** watch: number of watchers (on members other than the writer's). */
  readonly watchers: number;
  /** failover: number of leader kills. */
  readonly kills: number;
  /** Members the tool started: CPU is read from them, failover kills them. */
  readonly cluster: ManagedCluster | undefined;
  readonly label: string;
}

export interface WorkloadResult {
  readonly system: string;
  readonly workload: WorkloadName;
  readonly label: string;
  readonly clients: number;
  readonly conns: number;
  readonly valueSize: number;
  readonly ops: number;
  readonly elapsedSec: number;
  readonly opsPerSec: number;
  readonly latency: LatencySummary;
  readonly errors: Record<string, number>;
  /** CPU µs per op, summed over the member processes (only for clusters the tool started). */
  readonly serverCpuUsPerOp: number | undefined;
  /** CPU µs per op of this (load generator) process. */
  readonly clientCpuUsPerOp: number;
  /** watch: put→event latency and the fraction of (write, watcher) pairs delivered. */
  readonly watch?: {
    readonly putToEvent: LatencySummary;
    readonly deliveredPct: number;
    readonly eventsPerSec: number;
  };
  /** failover: ms from SIGKILL of the leader to the next acknowledged write, per kill. */
  readonly failover?: {
    readonly timesMs: readonly number[];
    readonly medianMs: number;
    readonly maxMs: number;
  };
}

export const PREFIX = '/bench';

export function keyName(i: number): string {
  return `${PREFIX}/k${String(i).padStart(6, '0')}`;
}

export function makeValue(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
  return b;
}

/** `endpoints` rotated by `i`, so connections spread over the members the way etcd's tool does. */
export function rotated(endpoints: readonly string[], i: number): string[] {
  const n = endpoints.length;
  return endpoints.map((_, j) => endpoints[(i + j) % n]!);
}

async function openConns(system: BenchSystem, opts: LoadOptions, n: number): Promise<BenchConn[]> {
  const conns: BenchConn[] = [];
  for (let i = 0; i < n; i++) conns.push(await system.connect({ endpoints: rotated(opts.endpoints, i) }));
  return conns;
}

function cpuNow(opts: LoadOptions): { server: number | undefined; self: number } {
  return { server: opts.cluster ? totalCpuMicros(opts.cluster.pids()) : undefined, self: selfCpuMicros() };
}

function finish(
  system: BenchSystem,
  workload: WorkloadName,
  opts: LoadOptions,
  rec: Recorder,
  elapsedMs: number,
  cpu0: { server: number | undefined; self: number },
): WorkloadResult {
  const cpu1 = cpuNow(opts);
  const ops = rec.count;
  return {
    system: system.name,
    workload,
    label: opts.label,
    clients: opts.clients,
    conns: opts.conns,
    valueSize: opts.valueSize,
    ops,
    elapsedSec: elapsedMs / 1000,
    opsPerSec: ops / (elapsedMs / 1000),
    latency: rec.summary(),
    errors: Object.fromEntries(rec.errors),
    serverCpuUsPerOp:
      cpu0.server !== undefined && cpu1.server !== undefined && ops > 0
        ? (cpu1.server - cpu0.server) / ops
        : undefined,
    clientCpuUsPerOp: ops > 0 ? (cpu1.self - cpu0.self) / ops : 0,
  };
}

/** Closed-loop load: put, create, get (linearizable or serializable), or a read/write mix. */
export async function runLoad(
  system: BenchSystem,
  kind: LoadKind,
  opts: LoadOptions,
): Promise<WorkloadResult> {
  const value = makeValue(opts.valueSize);
  const conns = await openConns(system, opts, Math.max(1, Math.min(opts.conns, opts.clients)));
  try {
    const keys = Array.from({ length: opts.keys }, (_, i) => keyName(i));
    await system.prepare(conns[0]!, PREFIX, kind === 'create' ? [] : keys, value);
    // Warm every connection (channels, streams, sessions) before the clock starts.
    await Promise.all(
      conns.map((c) => (kind === 'create' ? c.create(PREFIX, value) : c.get(keys[0]!, false))),
    );

    const op = (c: BenchConn): Promise<void> => {
      const key = keys[Math.floor(Math.random() * keys.length)]!;
      switch (kind) {
        case 'put':
          return c.put(key, value);
        case 'create':
          return c.create(PREFIX, value);
        case 'get':
          return c.get(key, true);
        case 'get-serializable':
          return c.get(key, false);
        case 'mixed':
          return Math.random() < opts.readRatio ? c.get(key, true) : c.put(key, value);
      }
    };
    if (opts.warmupMs > 0) {
      const warmEnd = nowMs() + opts.warmupMs;
      await Promise.all(
        Array.from({ length: opts.clients }, async (_, w) => {
          const c = conns[w % conns.length]!;
          while (nowMs() < warmEnd) await op(c).catch(() => undefined);
        }),
      );
    }
    const rec = new Recorder();
    let issued = 0;
    const total = opts.total;
    const t0 = nowMs();
    const deadline = t0 + opts.durationMs;
    const progress = new Progress(`${system.name} ${opts.label}`, () =>
      total !== undefined
        ? [rec.count + rec.errorCount, total, rec.count]
        : [nowMs() - t0, opts.durationMs, rec.count],
    );
    const more = (): boolean => (total !== undefined ? issued < total : nowMs() < deadline);
    const cpu0 = cpuNow(opts);
    progress.start();
    const worker = async (w: number): Promise<void> => {
      const c = conns[w % conns.length]!;
      while (more()) {
        issued++;
        const start = nowMs();
        try {
          await op(c);
          rec.record(nowMs() - start);
        } catch (e) {
          rec.error(system.errorLabel(e));
        }
      }
    };
    await Promise.all(Array.from({ length: opts.clients }, (_, w) => worker(w)));
    const elapsed = nowMs() - t0;
    progress.stop();
    return finish(system, kind, opts, rec, elapsed, cpu0);
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

interface WriteRecord {
  readonly sentAt: number;
  ackAt: number | undefined;
  /** Watchers that saw this write. */
  seen: number;
}

/**
 * Watch: one writer connection on member 0, `watchers` connections on the other members, all
 * watching the key prefix. Latency is from the writer's acknowledgement to the event's arrival
 * (0 when the event beats the ack), also reported from the put's start. Keys are written
 * round-robin over a set large enough that a key is rewritten only long after its last event,
 * so systems with one-shot watches (ZooKeeper) are not penalised for re-registering.
 */
export async function runWatch(system: BenchSystem, opts: LoadOptions): Promise<WorkloadResult> {
  const value = makeValue(opts.valueSize);
  const n = opts.endpoints.length;
  const writer = await system.connect({ endpoints: rotated(opts.endpoints, 0) });
  const watchers: BenchConn[] = [];
  try {
    for (let i = 0; i < opts.watchers; i++) {
      watchers.push(
        await system.connect({ endpoints: rotated(opts.endpoints, n > 1 ? 1 + (i % (n - 1)) : 0) }),
      );
    }
    const keys = Array.from({ length: Math.max(100, 2 * opts.clients) }, (_, i) => keyName(i));
    await system.prepare(writer, PREFIX, keys, value);
    const latest = new Map<string, WriteRecord>();
    const ackToEvent = new Recorder();
    const putToEvent = new Recorder();
    let events = 0;
    const watcherSeen = watchers.map(() => new Set<WriteRecord>());
    for (let w = 0; w < watchers.length; w++) {
      const seen = watcherSeen[w]!;
      await watchers[w]!.watch(PREFIX, keys, (key) => {
        const r = latest.get(key);
        if (!r || seen.has(r)) return;
        seen.add(r);
        r.seen++;
        events++;
        const t = nowMs();
        ackToEvent.record(r.ackAt === undefined ? 0 : Math.max(0, t - r.ackAt));
        putToEvent.record(t - r.sentAt);
      });
    }
    let next = 0;
    if (opts.warmupMs > 0) {
      // Writes and events flow as measured, but nothing is recorded (their keys are not in `latest`).
      const warmEnd = nowMs() + opts.warmupMs;
      await Promise.all(
        Array.from({ length: opts.clients }, async () => {
          while (nowMs() < warmEnd)
            await writer.put(keys[next++ % keys.length]!, value).catch(() => undefined);
        }),
      );
    }
    const rec = new Recorder();
    const writes: WriteRecord[] = [];
    const total = opts.total;
    const t0 = nowMs();
    const deadline = t0 + opts.durationMs;
    const more = (): boolean => (total !== undefined ? next < total : nowMs() < deadline);
    const progress = new Progress(`${system.name} ${opts.label}`, () =>
      total !== undefined ? [next, total, rec.count] : [nowMs() - t0, opts.durationMs, rec.count],
    );
    const cpu0 = cpuNow(opts);
    progress.start();
    await Promise.all(
      Array.from({ length: opts.clients }, async () => {
        while (more()) {
          const key = keys[next++ % keys.length]!;
          const r: WriteRecord = { sentAt: nowMs(), ackAt: undefined, seen: 0 };
          latest.set(key, r);
          try {
            await writer.put(key, value);
            r.ackAt = nowMs();
            rec.record(r.ackAt - r.sentAt);
            writes.push(r);
          } catch (e) {
            rec.error(system.errorLabel(e));
          }
        }
      }),
    );
    const elapsed = nowMs() - t0;
    // Let the last events arrive (bounded): stop as soon as everything was delivered.
    const want = writes.length * watchers.length;
    const settleBy = nowMs() + 3_000;
    while (writes.reduce((s, r) => s + r.seen, 0) < want && nowMs() < settleBy) await sleep(20);
    progress.stop();
    const delivered = writes.reduce((s, r) => s + r.seen, 0);
    const base = finish(system, 'watch', opts, rec, elapsed, cpu0);
    return {
      ...base,
      latency: ackToEvent.summary(),
      watch: {
        putToEvent: putToEvent.summary(),
        deliveredPct: want === 0 ? 0 : (100 * delivered) / want,
        eventsPerSec: events / (elapsed / 1000),
      },
      errors: { ...base.errors },
    };
  } finally {
    await Promise.all([writer, ...watchers].map((c) => c.close()));
  }
}

/**
 * Failover: a write load runs on the cluster; the leader is killed with SIGKILL; a probe
 * connection to the survivors writes in a loop and the time from the kill to its first
 * acknowledged write is recorded. The member is restarted and caught up before the next kill.
 */
export async function runFailover(system: BenchSystem, opts: LoadOptions): Promise<WorkloadResult> {
  const cluster = opts.cluster;
  if (!cluster)
    throw new Error('failover kills members: it needs a cluster the tool started (--start-cluster)');
  const value = makeValue(opts.valueSize);
  const conns = await openConns(system, opts, Math.max(1, Math.min(opts.conns, opts.clients)));
  const keys = Array.from({ length: opts.keys }, (_, i) => keyName(i));
  const rec = new Recorder();
  const times: number[] = [];
  let stop = false;
  const progress = new Progress(`${system.name} ${opts.label}`, () => [times.length, opts.kills, rec.count]);
  try {
    await system.prepare(conns[0]!, PREFIX, keys, value);
    const cpu0 = cpuNow(opts);
    const t0 = nowMs();
    progress.start();
    const load = Promise.all(
      Array.from({ length: opts.clients }, async (_, w) => {
        const c = conns[w % conns.length]!;
        while (!stop) {
          const start = nowMs();
          try {
            await c.put(keys[Math.floor(Math.random() * keys.length)]!, value);
            rec.record(nowMs() - start);
          } catch (e) {
            rec.error(system.errorLabel(e));
          }
        }
      }),
    );
    for (let k = 0; k < opts.kills; k++) {
      await sleep(1_000);
      const leader = await cluster.leaderIndex();
      const survivors = cluster.endpoints.filter((_, i) => i !== leader);
      const probe = await system.connect({ endpoints: rotated(survivors, k) });
      try {
        await probe.put(keys[0]!, value);
        const killedAt = nowMs();
        cluster.kill(leader);
        for (;;) {
          try {
            await probe.put(keys[0]!, value);
            break;
          } catch {
            /* not yet */
          }
        }
        times.push(nowMs() - killedAt);
      } finally {
        await probe.close();
      }
      await cluster.restart(leader);
    }
    stop = true;
    await load;
    const elapsed = nowMs() - t0;
    progress.stop();
    const sorted = [...times].sort((a, b) => a - b);
    return {
      ...finish(system, 'failover', opts, rec, elapsed, cpu0),
      failover: {
        timesMs: times,
        medianMs: sorted[Math.floor(sorted.length / 2)] ?? 0,
        maxMs: sorted[sorted.length - 1] ?? 0,
      },
    };
  } finally {
    stop = true;
    await Promise.all(conns.map((c) => c.close()));
  }
}
