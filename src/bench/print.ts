/** Benchmark results go to stdout as plain lines (these are command-line tools, not the server). */
export function print(...parts: readonly unknown[]): void {
  process.stdout.write(parts.map((p) => (typeof p === 'string' ? p : String(p))).join(' ') + '\n');
}
