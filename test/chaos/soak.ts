/**
 * The long soak: `npm run test:chaos -- --time 600 --nemesis all [--members 5] [--seed N]`.
 * Exits 1 on any anomaly, printing the seed and where the history was saved.
 */
import { parseNemesis } from './nemesis.js';
import { chaosRun } from './run.js';

function args(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else out.set(a.slice(2), argv[++i] ?? '');
  }
  return out;
}

const a = args(process.argv.slice(2));
for (const k of a.keys())
  if (!['time', 'nemesis', 'members', 'seed', 'keys', 'stale-reads'].includes(k))
    throw new Error(
      `unknown flag --${k} (use --time, --nemesis, --members, --seed, --keys, --stale-reads true)`,
    );
const seed = a.has('seed') ? Number(a.get('seed')) : Date.now() % 2 ** 31;
const result = await chaosRun({
  seed,
  members: Number(a.get('members') ?? 3),
  seconds: Number(a.get('time') ?? 60),
  faults: parseNemesis(a.get('nemesis') ?? 'all'),
  ...(a.has('keys') ? { keys: Number(a.get('keys')) } : {}),
  ...(a.get('stale-reads') === 'true' ? { staleReads: true } : {}),
});
console.log(JSON.stringify({ ...result, anomalies: result.anomalies.map((x) => x.slice(0, 2000)) }, null, 2));
if (result.anomalies.length > 0) {
  console.error(`\nANOMALIES (seed ${result.seed}); history saved under ${result.savedTo}`);
  process.exit(1);
}
process.exit(0);
