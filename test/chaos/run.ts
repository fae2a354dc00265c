/**
 * One chaos run: build the network, start the cluster, run the workload against the nemesis, heal
 * everything, then check the history and the final state. Always tears down, also on failure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seededRng } from '../../src/util/rng.js';
import { checkRegisters } from './checker/linearizability.js';
import { checkSequential, missingSequential } from './checker/sequential.js';
import { checkWatches } from './checker/watches.js';
import type { RegisterOp } from './checker/history.js';
import { ChaosCluster } from './cluster.js';
import { Net } from './net.js';
import { Nemesis, type Fault } from './nemesis.js';
import { call, sleep, until, type Msg } from './rpc.js';
import { INITIAL_DATA, keyPath, Workload } from './workload.js';

export interface RunOptions {
  readonly seed: number;
  readonly members: number;
  readonly seconds: number;
  readonly faults: readonly Fault[];
  readonly keys?: number;
  readonly workers?: number;
  /** Harness self-test: serializable reads, which must be caught as stale. */
  readonly staleReads?: boolean;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface RunResult {
  readonly seed: number;
  readonly members: number;
  readonly faults: readonly Fault[];
  readonly seconds: number;
  readonly operations: {
    ok: number;
    fail: number;
    info: number;
    checked: number;
    creates: number;
    sessions: number;
    watchEvents: number;
  };
  readonly anomalies: string[];
  readonly nemesis: readonly string[];
  /** Where the history (and failing windows) were saved; set when there are anomalies. */
  readonly savedTo?: string;
  readonly elapsedMs: number;
}

export async function chaosRun(opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const say = opts.log ?? ((l: string): void => void process.stderr.write(l + '\n'));
  const rng = seededRng(opts.seed);
  const net = Net.create(opts.members);
  const dir = mkdtempSync(path.join(os.tmpdir(), `arbor-chaos-${opts.seed}-`));
  const cluster = new ChaosCluster(net, { size: opts.members, dir: path.join(dir, 'data') });
  const anomalies: string[] = [];
  let workload: Workload | undefined;
  let nemesis: Nemesis | undefined;
  let savedTo: string | undefined;
  try {
    say(
      `chaos seed=${opts.seed} members=${opts.members} time=${opts.seconds}s faults=${opts.faults.join(',')} net=${net.tag} 198.18.${net.subnet}.0/24`,
    );
    await cluster.start();
    workload = new Workload(cluster, {
      rng,
      tag: `r${opts.seed}`,
      keys: opts.keys ?? 48,
      workers: opts.workers ?? 3 * opts.members,
      sessionWorkers: 2,
      seqParents: 3,
      opTimeoutMs: 2000,
      ...(opts.staleReads === true ? { staleReads: true } : {}),
    });
    await workload.setup();
    const wl = workload;
    nemesis = new Nemesis(cluster, rng, opts.faults, () => wl.now());
    const load = workload.run();
    const faults = opts.faults.length > 0 ? nemesis.run() : Promise.resolve();
    await sleep(opts.seconds * 1000);
    nemesis.stop();
    await faults;
    await nemesis.healAll();
    await cluster.waitForLeader(60_000);
    // A few quiet seconds of load after the heal, so recovery itself is observed.
    await sleep(3000);
    workload.stop();
    await load;
    say(
      `workload done: ${workload.history.length} register ops, ${workload.creates.length} creates, ${workload.sessions.length} sessions`,
    );
    await finalChecks(cluster, workload, anomalies);
  } catch (e) {
    anomalies.push(`run aborted: ${(e as Error).stack ?? String(e)}\n${cluster.logs()}`);
  } finally {
    workload?.stop();
    if (workload) workload.watchesDone = true;
    workload?.cancelWatches();
    await cluster.stop().catch(() => undefined);
    net.destroy();
    const left = net.leftovers();
    if (left.length > 0) anomalies.push(`teardown left network namespaces behind: ${left.join(', ')}`);
  }
  const h = workload?.history ?? [];
  const lin = checkRegisters(h, () => ({ value: INITIAL_DATA, version: 0 }));
  for (const f of lin.failures)
    anomalies.push(
      `not linearizable: register ${f.key} (${f.ops} ops); smallest failing window has ${f.window?.length ?? 0} ops${f.windowFromUnknownState ? ' (from an unknown state)' : ''}`,
    );
  for (const k of lin.undecided) anomalies.push(`linearizability of ${k} undecided: search budget exhausted`);
  if (anomalies.length > 0) {
    savedTo = dir;
    writeFileSync(
      path.join(dir, 'history.json'),
      JSON.stringify(
        {
          seed: opts.seed,
          opts,
          nemesis: nemesis?.log,
          history: h,
          creates: workload?.creates,
          sessions: workload?.sessions,
          watches: workload?.watchLogs,
          anomalies,
        },
        (_k, v) => (v === Infinity ? 'Infinity' : v),
      ),
    );
    lin.failures.forEach((f, i) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        path.join(dir, `window-${i}-${f.key}.json`),
        JSON.stringify(
          { seed: opts.seed, key: f.key, window: f.window, nemesis: nemesis?.log },
          (_k, v) => (v === Infinity ? 'Infinity' : v),
          1,
        ),
      );
    });
    rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  } else rmSync(dir, { recursive: true, force: true });
  const count = (o: string): number => h.filter((x) => x.outcome === o).length;
  return {
    seed: opts.seed,
    members: opts.members,
    faults: opts.faults,
    seconds: opts.seconds,
    operations: {
      ok: count('ok'),
      fail: count('fail'),
      info: count('info'),
      checked: lin.checked,
      creates: workload?.creates.length ?? 0,
      sessions: workload?.sessions.length ?? 0,
      watchEvents: workload?.watchLogs.reduce((n, l) => n + l.events.length, 0) ?? 0,
    },
    anomalies,
    nemesis: (nemesis?.log ?? []).map((e) => `${e.at} ms: ${e.what}`),
    ...(savedTo !== undefined ? { savedTo } : {}),
    elapsedMs: Date.now() - started,
  };
}

async function finalChecks(cluster: ChaosCluster, w: Workload, anomalies: string[]): Promise<void> {
  const slots = cluster.slots;
  // Every member serves linearizable reads again.
  for (const s of slots)
    await until(() => call(s.arbor, 'Get', { path: '/c' }, 2000), 60_000, `slot ${s.slot} to serve reads`);
  // Final reads of every register on every member enter the history: acknowledged writes must be there.
  const finalVersions = new Map<string, number>();
  for (const key of w.keyNames()) {
    for (const s of slots) {
      const call0 = w.now();
      const r = await until(
        () => call(s.arbor, 'Get', { path: keyPath(key) }, 3000),
        30_000,
        `final read of ${key}`,
      );
      const version = Number(r.stat.version);
      const op: RegisterOp = {
        id: 1_000_000 + w.history.length,
        process: 'final',
        key,
        f: 'read',
        outcome: 'ok',
        call: call0,
        ret: w.now(),
        member: s.slot,
        result: { value: Buffer.from(r.data).toString(), version },
      };
      w.history.push(op);
      finalVersions.set(keyPath(key), version);
    }
  }
  // Ephemerals of ended sessions disappear (sessions time out after 2 s once keepalives stop).
  const leftover = await until(
    async () => {
      const lists = await Promise.all(slots.map((s) => call(s.arbor, 'GetChildren', { path: '/eph' }, 3000)));
      return lists.every((l) => (l.children as string[]).length === 0) ? [] : undefined;
    },
    30_000,
    'ephemerals of ended sessions to vanish',
  ).catch(
    async () => (await call(slots[0]!.arbor, 'GetChildren', { path: '/eph' }, 3000)).children as string[],
  );
  if (leftover.length > 0)
    anomalies.push(`ephemerals of ended sessions still present: ${leftover.slice(0, 10).join(', ')}`);
  // Members converge: same applied index ⇒ same digest; same children everywhere.
  let agreed: Msg[] = [];
  await until(
    async () => {
      const st = await Promise.all(slots.map((s) => call(s.cluster, 'Status', {}, 2000)));
      agreed = st;
      return new Set(st.map((x) => String(x.applied_index))).size === 1 ? st : undefined;
    },
    30_000,
    'members to reach the same applied index',
  ).catch(() =>
    anomalies.push(
      `members did not converge on one applied index: ${agreed.map((x) => `${x.member_id}@${x.applied_index}`).join(' ')}`,
    ),
  );
  if (
    new Set(agreed.map((x) => String(x.applied_index))).size === 1 &&
    new Set(agreed.map((x) => x.digest)).size !== 1
  )
    anomalies.push(
      `digests differ at applied index ${agreed[0]?.applied_index}: ${agreed.map((x) => `${x.member_id}=${x.digest}`).join(' ')}`,
    );
  const parents = ['/c', '/eph', ...Array.from({ length: 3 }, (_, j) => `/seq/p${j}`)];
  const present = new Map<string, Set<string>>();
  for (const p of parents) {
    const lists = await Promise.all(
      slots.map((s) => call(s.arbor, 'GetChildren', { path: p, consistency: 1 }, 3000)),
    );
    const shown = lists.map((l) => (l.children as string[]).join(','));
    if (new Set(shown).size !== 1) anomalies.push(`members list different children of ${p}`);
    present.set(p, new Set(lists[0]?.children as string[]));
  }
  for (const m of missingSequential(w.creates, present))
    anomalies.push(`acknowledged sequential create missing: ${m}`);
  for (const p of checkSequential(w.creates)) anomalies.push(`sequential: ${p}`);
  // Watch streams catch up with the final state, then must match the history.
  await until(
    () =>
      w.watchLogs.every((l) => {
        const last = new Map<string, number>();
        for (const e of l.events) last.set(e.path, e.version);
        return [...finalVersions].every(([p, v]) => v === 0 || last.get(p) === v);
      }) || undefined,
    20_000,
    'watch streams to deliver the final state',
  ).catch(() => undefined);
  for (const p of checkWatches(w.watchLogs, w.history, finalVersions, keyPath, INITIAL_DATA))
    anomalies.push(`watch: ${p}`);
}
