/** Command-line options of the benchmark tools (`--flag value` / `--flag=value`). */
export interface BenchArgs {
  readonly positional: string[];
  readonly flags: Map<string, string>;
}

export function parseArgs(argv: readonly string[], booleans: readonly string[]): BenchArgs {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) {
      flags.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (booleans.includes(a.slice(2))) {
      flags.set(a.slice(2), 'true');
    } else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      flags.set(a.slice(2), v);
    }
  }
  return { positional, flags };
}

export function intFlag(args: BenchArgs, name: string, def: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got ${v}`);
  return n;
}

/** "10s", "500ms", "2m" or plain seconds → ms. */
export function durationFlag(args: BenchArgs, name: string, defMs: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return defMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new Error(`--${name}: expected a duration like 10s or 500ms, got ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function boolFlag(args: BenchArgs, name: string): boolean {
  const v = args.flags.get(name);
  return v !== undefined && v !== 'false';
}
