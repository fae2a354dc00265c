/**
 * `npm run bench -- <workload> [flags]`: Arbor's load generator, modelled on etcd's
 * `benchmark` tool. A progress bar goes to stderr while it runs; a table (or JSON with --json)
 * goes to stdout at the end.
 *
 *   workloads: put | create | get | mixed | watch | failover | all, and scale (on its own)
 *   --endpoints a,b,c     members to use (default 127.0.0.1:4181..4183)
 *   --start-cluster       start a fresh local 3-member cluster in a temp dir for the run
 *   --clients N           outstanding requests (default 1)
 *   --conns N             client connections (ArborClient instances; default 1)
 *   --value-size B        value size (default 256)      --keys N   key space (default 1000)
 *   --duration 10s | --total N                          --read-ratio 0.9 (mixed)
 *   --warmup 2s           the same load, unrecorded, before the clock starts (0: from cold)
 *   --transport stream|unary|both (default stream)      --watchers N (watch; default 2)
 *   --kills N (failover; default 3)                     --json
 *   --tick-ms, --election-ticks, --member-args "..."    (for --start-cluster)
 *   --node-args "..."     node flags for started members (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p")
 *
 *   scale (needs --start-cluster; starts two clusters of its own, see src/bench/scale.ts):
 *   --znodes 10000,100000,1000000   tree sizes     --watches 1000,10000,100000   watches on one member
 *   --watch-keys N (10000)  --batch N creates per Multi (500)  --load-outstanding N Multis (8)
 *   --watch-conns N (one per 5000 watches)  --watch-api many|watch (many: one WatchMany stream
 *   per connection; watch: one Watch call per watch)  --settle 2s  --rounds N (1): N rounds, each
 *   an unwatched and a watched put load at every watch count in turn (0 first), medians reported
 *   and changes vs 0 paired by round; here --value-size defaults to 100,
 *   --clients to 64, --conns to 8 and --duration (of each put load) to 3s.
 */
import { ArborCluster, ArborSystem } from './arbor-system.js';
import { boolFlag, durationFlag, intFlag, parseArgs } from './options.js';
import { resultsTable } from './report.js';
import { runFailover, runLoad, runWatch, type LoadOptions, type WorkloadResult } from './workloads.js';
import { DEFAULT_ENDPOINTS } from '../client/index.js';
import { print } from './print.js';
import { runScale, type WatchApi } from './scale.js';
import { scaleTables } from './scale-report.js';

const WORKLOADS = ['put', 'create', 'get', 'mixed', 'watch', 'failover'] as const;
type Workload = (typeof WORKLOADS)[number];

function splitArgs(s: string | undefined): string[] {
  return s === undefined || s.trim() === '' ? [] : s.trim().split(/\s+/);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['start-cluster', 'json', 'help']);
  if (boolFlag(args, 'help')) {
    print('usage: npm run bench -- <put|create|get|mixed|watch|failover|all> [flags]; see src/bench/main.ts');
    return;
  }
  const asked = args.positional.length === 0 ? ['put'] : args.positional;
  if (asked.includes('scale')) {
    if (asked.length > 1) throw new Error('scale runs on its own (it starts its own clusters)');
    await scale(args);
    return;
  }
  const workloads: Workload[] = asked.includes('all')
    ? [...WORKLOADS]
    : asked.map((w) => {
        if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`unknown workload ${w}`);
        return w as Workload;
      });
  const transportFlag = args.flags.get('transport') ?? 'stream';
  if (!['stream', 'unary', 'both'].includes(transportFlag))
    throw new Error('--transport: stream, unary or both');
  const transports: ('stream' | 'unary')[] =
    transportFlag === 'both' ? ['stream', 'unary'] : [transportFlag as 'stream' | 'unary'];
  const startCluster = boolFlag(args, 'start-cluster');
  if (workloads.includes('failover') && !startCluster) {
    throw new Error('failover kills the leader: it needs --start-cluster');
  }

  const cluster = startCluster
    ? await ArborCluster.start({
        ...(args.flags.has('tick-ms') ? { tickMs: intFlag(args, 'tick-ms', 50) } : {}),
        ...(args.flags.has('election-ticks') ? { electionTicks: intFlag(args, 'election-ticks', 10) } : {}),
        extraArgs: splitArgs(args.flags.get('member-args')),
        nodeArgs: splitArgs(args.flags.get('node-args')),
      })
    : undefined;
  const results: WorkloadResult[] = [];
  try {
    const endpoints = cluster?.endpoints ?? args.flags.get('endpoints')?.split(',') ?? DEFAULT_ENDPOINTS;
    const clients = intFlag(args, 'clients', 1);
    const base: Omit<LoadOptions, 'label'> = {
      endpoints,
      clients,
      conns: intFlag(args, 'conns', 1),
      valueSize: intFlag(args, 'value-size', 256),
      keys: intFlag(args, 'keys', 1000),
      durationMs: durationFlag(args, 'duration', 10_000),
      warmupMs: durationFlag(args, 'warmup', 2_000),
      total: args.flags.has('total') ? intFlag(args, 'total', 0) : undefined,
      readRatio: Number(args.flags.get('read-ratio') ?? '0.9'),
      watchers: intFlag(args, 'watchers', Math.max(1, endpoints.length - 1)),
      kills: intFlag(args, 'kills', 3),
      cluster,
    };
    for (const transport of transports) {
      const system = new ArborSystem(transport);
      for (const w of workloads) {
        const label = (name: string): LoadOptions => ({ ...base, label: `${name} (${transport})` });
        switch (w) {
          case 'put':
          case 'create':
            results.push(await runLoad(system, w, label(w)));
            break;
          case 'get':
            results.push(await runLoad(system, 'get', label('get linearizable')));
            results.push(await runLoad(system, 'get-serializable', label('get serializable')));
            break;
          case 'mixed':
            results.push(await runLoad(system, 'mixed', label(`mixed r=${base.readRatio}`)));
            break;
          case 'watch':
            results.push(await runWatch(system, label('watch')));
            break;
          case 'failover':
            results.push(await runFailover(system, label('failover')));
            break;
        }
      }
    }
  } finally {
    await cluster?.stop();
  }
  if (boolFlag(args, 'json')) print(JSON.stringify({ results }, null, 2));
  else print(resultsTable(results));
}

function sizesFlag(args: ReturnType<typeof parseArgs>, name: string, def: readonly number[]): number[] {
  const v = args.flags.get(name);
  if (v === undefined) return [...def];
  const out = v
    .split(',')
    .filter((x) => x.trim() !== '')
    .map(Number);
  if (out.some((n) => !Number.isInteger(n) || n < 0))
    throw new Error(`--${name}: expected counts like 1000,10000`);
  return out.sort((a, b) => a - b);
}

function watchApiFlag(v: string | undefined): WatchApi {
  if (v === undefined || v === 'many' || v === 'watch') return v ?? 'many';
  throw new Error(`--watch-api must be many or watch, not ${v}`);
}

async function scale(args: ReturnType<typeof parseArgs>): Promise<void> {
  if (!boolFlag(args, 'start-cluster'))
    throw new Error('scale kills and restarts members: it needs --start-cluster');
  const znodes = sizesFlag(args, 'znodes', [10_000, 100_000, 1_000_000]).filter((n) => n > 0);
  const result = await runScale({
    znodes,
    watches: sizesFlag(args, 'watches', [1_000, 10_000, 100_000]),
    watchKeys: Math.max(1, intFlag(args, 'watch-keys', 10_000)),
    valueSize: intFlag(args, 'value-size', 100),
    batch: Math.max(1, intFlag(args, 'batch', 500)),
    loadOutstanding: Math.max(1, intFlag(args, 'load-outstanding', 8)),
    clients: Math.max(1, intFlag(args, 'clients', 64)),
    conns: Math.max(1, intFlag(args, 'conns', 8)),
    putMs: durationFlag(args, 'duration', 3_000),
    watchConns: args.flags.has('watch-conns') ? Math.max(1, intFlag(args, 'watch-conns', 1)) : undefined,
    watchApi: watchApiFlag(args.flags.get('watch-api')),
    settleMs: durationFlag(args, 'settle', 2_000),
    rounds: Math.max(1, intFlag(args, 'rounds', 1)),
    startCluster: () =>
      ArborCluster.start({
        ...(args.flags.has('tick-ms') ? { tickMs: intFlag(args, 'tick-ms', 50) } : {}),
        ...(args.flags.has('election-ticks') ? { electionTicks: intFlag(args, 'election-ticks', 10) } : {}),
        extraArgs: splitArgs(args.flags.get('member-args')),
        nodeArgs: splitArgs(args.flags.get('node-args')),
      }),
  });
  if (boolFlag(args, 'json')) print(JSON.stringify({ scale: result }, null, 2));
  else print(scaleTables(result));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
