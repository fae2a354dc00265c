/** Rendering of results: one aligned table on stdout. */
import type { WorkloadResult } from './workloads.js';

const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function errorsText(errors: Record<string, number>): string {
  const parts = Object.entries(errors).map(([k, v]) => `${k}:${v}`);
  return parts.length === 0 ? '0' : parts.join(',');
}

export function resultsTable(results: readonly WorkloadResult[]): string {
  const headers = [
    'system',
    'workload',
    'clients/conns',
    'ops',
    'ops/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'p99.9 ms',
    'max ms',
    'errors',
    'srv µs/op',
    'cli µs/op',
  ];
  const rows = results.map((r) => [
    r.system,
    r.label,
    `${r.clients}/${r.conns}`,
    String(r.ops),
    r.opsPerSec.toFixed(0),
    f2(r.latency.p50Ms),
    f2(r.latency.p90Ms),
    f2(r.latency.p99Ms),
    f2(r.latency.p999Ms),
    f2(r.latency.maxMs),
    errorsText(r.errors),
    r.serverCpuUsPerOp === undefined ? '-' : f1(r.serverCpuUsPerOp),
    f1(r.clientCpuUsPerOp),
  ]);
  const extra = results.flatMap((r) => {
    const out: string[] = [];
    if (r.watch) {
      out.push(
        `${r.system} ${r.label}: latency columns are put-ack→event; put-start→event p50 ${f2(r.watch.putToEvent.p50Ms)} p99 ${f2(r.watch.putToEvent.p99Ms)} ms; delivered ${r.watch.deliveredPct.toFixed(2)}%; ${r.watch.eventsPerSec.toFixed(0)} events/s`,
      );
    }
    if (r.failover) {
      out.push(
        `${r.system} ${r.label}: leader kill → next acknowledged write: ${r.failover.timesMs.map((t) => t.toFixed(0)).join(', ')} ms (median ${r.failover.medianMs.toFixed(0)}, max ${r.failover.maxMs.toFixed(0)})`,
      );
    }
    return out;
  });
  return [renderTable(headers, rows), ...extra].join('\n');
}
