/**
 * `bench/compare.sh`: Arbor against etcd and ZooKeeper, same workloads, same client counts and
 * sizes, one side-by-side table. Each (row, system) gets a fresh local 3-member cluster of its
 * own (started here, one at a time so they never compete for CPU, killed and removed after);
 * every row runs on each system in turn before the next row starts.
 *
 *   node dist/bench/compare.js [--duration 10s] [--warmup 2s] [--value-size 256] [--keys 1000] [--kills 3]
 *                              [--systems arbor,arbor-unary,etcd,zookeeper] [--json]
 */
import { ArborCluster, ArborSystem } from './arbor-system.js';
import { EtcdCluster, EtcdSystem } from './anchors/etcd.js';
import { ZkCluster, ZkSystem } from './anchors/zookeeper.js';
import type { BenchSystem, ManagedCluster } from './driver-interface.js';
import { boolFlag, durationFlag, intFlag, parseArgs } from './options.js';
import { renderTable, resultsTable } from './report.js';
import { runFailover, runLoad, runWatch, type LoadOptions, type WorkloadResult } from './workloads.js';
import { print } from './print.js';

interface Row {
  readonly id: string;
  readonly title: string;
  readonly run: (s: BenchSystem, base: Omit<LoadOptions, 'label'>) => Promise<WorkloadResult | undefined>;
  readonly cell: (r: WorkloadResult) => string;
}

const tput = (r: WorkloadResult): string =>
  `${r.opsPerSec.toFixed(0)}/s p99 ${r.latency.p99Ms.toFixed(1)}ms${r.serverCpuUsPerOp !== undefined ? ` ${r.serverCpuUsPerOp.toFixed(0)}µs` : ''}`;

const ROWS: readonly Row[] = [
  {
    id: 'seq-writes',
    title: 'sequential writes, 1 client',
    run: (s, b) => runLoad(s, 'put', { ...b, clients: 1, conns: 1, label: 'put 1/1' }),
    cell: tput,
  },
  {
    id: 'writes-64',
    title: 'writes, 64 outstanding / 8 conns',
    run: (s, b) => runLoad(s, 'put', { ...b, clients: 64, conns: 8, label: 'put 64/8' }),
    cell: tput,
  },
  {
    id: 'lin-reads-64',
    title: 'linearizable reads, 64 / 8 conns',
    run: (s, b) =>
      s.linearizableReads
        ? runLoad(s, 'get', { ...b, clients: 64, conns: 8, label: 'get lin 64/8' })
        : Promise.resolve(undefined),
    cell: tput,
  },
  {
    id: 'local-reads-64',
    title: 'member-local reads, 64 / 8 conns',
    run: (s, b) => runLoad(s, 'get-serializable', { ...b, clients: 64, conns: 8, label: 'get local 64/8' }),
    cell: tput,
  },
  {
    id: 'watch',
    title: 'watch put→event p99 / ack→event p99',
    run: (s, b) =>
      runWatch(s, { ...b, clients: 1, conns: 1, watchers: 2, label: 'watch 1 writer/2 watchers' }),
    // Issue #7 defines the row from the put's start (its ack races the event); both are shown.
    cell: (r) =>
      `${r.watch?.putToEvent.p99Ms.toFixed(2)}ms / ${r.latency.p99Ms.toFixed(2)}ms (${(r.watch?.deliveredPct ?? 0).toFixed(1)}%)`,
  },
  {
    id: 'failover',
    title: 'failover: kill -9 leader → next write',
    run: (s, b) => runFailover(s, { ...b, clients: 8, conns: 4, label: 'failover' }),
    cell: (r) =>
      `median ${r.failover?.medianMs.toFixed(0)}ms (${r.failover?.timesMs.map((t) => t.toFixed(0)).join('/')})`,
  },
];

interface SystemSpec {
  readonly column: string;
  readonly system: () => BenchSystem;
  readonly cluster: () => Promise<ManagedCluster>;
}

const SYSTEMS: Record<string, SystemSpec> = {
  arbor: {
    column: 'arbor (stream)',
    system: () => new ArborSystem('stream'),
    cluster: () => ArborCluster.start(),
  },
  'arbor-unary': {
    column: 'arbor (unary)',
    system: () => new ArborSystem('unary'),
    cluster: () => ArborCluster.start(),
  },
  etcd: { column: 'etcd 3.4', system: () => new EtcdSystem(), cluster: () => EtcdCluster.start() },
  zookeeper: { column: 'zookeeper 3.8', system: () => new ZkSystem(), cluster: () => ZkCluster.start() },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['json']);
  const names = (args.flags.get('systems') ?? 'arbor,arbor-unary,etcd,zookeeper').split(',');
  const rowIds = args.flags.get('rows')?.split(',');
  const rows = ROWS.filter((r) => !rowIds || rowIds.includes(r.id));
  const all: WorkloadResult[] = [];
  const cells = new Map<string, Map<string, string>>();
  const specs = names.map((name) => {
    const spec = SYSTEMS[name];
    if (!spec) throw new Error(`unknown system ${name}`);
    cells.set(spec.column, new Map<string, string>());
    return spec;
  });
  // Rows outer, systems inner: this shared machine's speed drifts over minutes, and a drift
  // should touch every system's cell of a row alike, not one system's whole column.
  for (const row of rows) {
    for (const spec of specs) {
      const col = cells.get(spec.column)!;
      // A fresh cluster per row: no row inherits another's log, compaction or leader.
      const cluster = await spec.cluster();
      try {
        const base: Omit<LoadOptions, 'label'> = {
          endpoints: cluster.endpoints,
          clients: 1,
          conns: 1,
          valueSize: intFlag(args, 'value-size', 256),
          keys: intFlag(args, 'keys', 1000),
          durationMs: durationFlag(args, 'duration', 10_000),
          warmupMs: durationFlag(args, 'warmup', 2_000),
          total: undefined,
          readRatio: 0.9,
          watchers: 2,
          kills: intFlag(args, 'kills', 3),
          cluster,
        };
        const r = await row.run(spec.system(), base);
        if (r) {
          all.push({ ...r, system: spec.column });
          console.error(`${spec.column} | ${row.title} | ${row.cell(r)}`);
          col.set(row.id, row.cell(r));
        } else col.set(row.id, 'n/a');
      } catch (e) {
        col.set(row.id, `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
        console.error(`${spec.column} | ${row.title} | failed:`, e);
      } finally {
        await cluster.stop();
      }
    }
  }
  if (boolFlag(args, 'json')) {
    print(
      JSON.stringify(
        { results: all, table: Object.fromEntries([...cells].map(([k, v]) => [k, Object.fromEntries(v)])) },
        null,
        2,
      ),
    );
    return;
  }
  print(resultsTable(all));
  print('');
  const columns = [...cells.keys()];
  print(
    renderTable(
      ['row', ' ', ...columns],
      rows.map((r) => [r.title, '', ...columns.map((c) => cells.get(c)?.get(r.id) ?? '-')]),
    ),
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
