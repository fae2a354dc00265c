/**
 * Latency and error bookkeeping for one workload run. Latencies are kept exactly (one float
 * per op in a growable Float64Array) and sorted once at the end: runs are seconds to minutes,
 * so memory is bounded by ops, and no bucketing error hides in the tail percentiles.
 */
export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export class Recorder {
  private samples = new Float64Array(1 << 16);
  private n = 0;
  /** Errors by label (gRPC status name, etcd error class, ZooKeeper exception name). */
  readonly errors = new Map<string, number>();

  get count(): number {
    return this.n;
  }

  get errorCount(): number {
    let total = 0;
    for (const v of this.errors.values()) total += v;
    return total;
  }

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = ms;
  }

  error(label: string): void {
    this.errors.set(label, (this.errors.get(label) ?? 0) + 1);
  }

  summary(): LatencySummary {
    const s = this.samples.subarray(0, this.n).slice().sort();
    const at = (q: number): number =>
      s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
    let sum = 0;
    for (const v of s) sum += v;
    return {
      count: s.length,
      meanMs: s.length === 0 ? 0 : sum / s.length,
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      p999Ms: at(0.999),
      maxMs: s.length === 0 ? 0 : s[s.length - 1]!,
    };
  }
}

/** Milliseconds from a monotonic clock. */
export function nowMs(): number {
  return performance.now();
}
