/**
 * `npm run bench -- <workload> [flags]`: Arbor's load generator, modelled on etcd's
 * `benchmark` tool. A progress bar goes to stderr while it runs; a table (or JSON with --json)
 * goes to stdout at the end.
 *
 *   workloads: put | create | get | mixed | watch | failover | all
 *   --endpoints a,b,c     members to use (default 127.0.0.1:4181..4183)
 *   --start-cluster       start a fresh local 3-member cluster in a temp dir for the run
 *   --clients N           outstanding requests (default 1)
 *   --conns N             client connections (ArborClient instances; default 1)
 *   --value-size B        value size (default 256)      --keys N   key space (default 1000)
 *   --duration 10s | --total N                          --read-ratio 0.9 (mixed)
 *   --transport stream|unary|both (default stream)      --watchers N (watch; default 2)
 *   --kills N (failover; default 3)                     --json
 *   --tick-ms, --election-ticks, --member-args "..."    (for --start-cluster)
 *   --node-args "..."     node flags for started members (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p")
 */
import { ArborCluster, ArborSystem } from './arbor-system.js';
import { boolFlag, durationFlag, intFlag, parseArgs } from './options.js';
import { resultsTable } from './report.js';
import { runFailover, runLoad, runWatch, type LoadOptions, type WorkloadResult } from './workloads.js';
import { DEFAULT_ENDPOINTS } from '../client/index.js';
import { print } from './print.js';

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

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
