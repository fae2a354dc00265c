/** Rendering of the scale workload: one table per sweep plus the machine conditions. */
import { errorsText, renderTable } from './report.js';
import type { PutSummary, ScaleResult } from './scale.js';

const f0 = (x: number): string => x.toFixed(0);
const f1 = (x: number): string => x.toFixed(1);
const opt = (x: number | undefined, f: (x: number) => string): string => (x === undefined ? '-' : f(x));
const la = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' ');
const pct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const put = (p: PutSummary): string => `${f0(p.opsPerSec)} (p99 ${f1(p.p99Ms)})`;

export function scaleTables(r: ScaleResult): string {
  const out: string[] = [];
  const c = r.conditions;
  out.push(
    `machine: ${c.cpus} CPUs, ${c.totalMemMB} MiB RAM, node ${c.node}; load average (1/5/15 min) ${la(c.loadAvgStart)} at start, ${la(c.loadAvgEnd)} at end`,
    `put load: ${c.clients} outstanding over ${c.conns} connections for ${c.putMs / 1000} s, ${c.valueSize}-byte values` +
      (c.rounds > 1
        ? `; watch sweep: ${c.rounds} rounds, each an unwatched then a watched load at every watch count in turn; medians shown, changes vs 0 paired by round`
        : ''),
  );
  if (r.znodes.length > 0) {
    const rows = r.znodes.map((z) => {
      const maxRss = Math.max(...z.members.map((m) => m.rssMB));
      const maxPeak = Math.max(...z.members.map((m) => m.peakRssMB), z.restart.memory.peakRssMB);
      const maxHeap = Math.max(...z.members.map((m) => m.heapUsedMB ?? 0));
      return [
        String(z.znodes),
        String(z.counted),
        `${f1(z.loadSec)} s`,
        f0(z.loadPerSec),
        z.members.map((m) => f0(m.rssMB)).join('/'),
        f0(maxRss),
        f0(maxPeak),
        f0(maxHeap),
        put(z.put),
        errorsText(z.put.errors),
        f0(z.put.serverCpuUsPerOp),
        `m${z.restart.member + 1} ${f0(z.restart.readyMs)}`,
        f0(z.restart.readMs),
        `${f0(z.restart.memory.rssMB)}/${f0(z.restart.memory.peakRssMB)}`,
        la(z.loadAvg),
      ];
    });
    out.push(
      '',
      renderTable(
        [
          'znodes',
          'counted',
          'load',
          'znodes/s',
          'RSS MiB m1/m2/m3',
          'max RSS',
          'peak RSS',
          'max heap',
          'put ops/s (p99 ms)',
          'errors',
          'srv µs/put',
          'restart→ready ms',
          '→lin. read ms',
          'restarted RSS/peak',
          'load avg',
        ],
        rows,
      ),
    );
  }
  if (r.watches.length > 0) {
    const rows = r.watches.map((w) => [
      String(w.watches),
      String(w.conns),
      `${f1(w.openSec)} s`,
      errorsText(w.openErrors),
      f0(w.memoryOpen.rssMB),
      f1(w.rssDeltaOpenMB),
      f0(w.memory.rssMB),
      f1(w.rssDeltaMB),
      opt(w.heapDeltaMB, f1),
      put(w.putUnwatched),
      pct(w.unwatchedChangePct),
      put(w.putWatched),
      pct(w.watchedChangePct),
      pct(w.watchedVsUnwatchedPct),
      `${f0(w.putUnwatched.serverCpuUsPerOp)} / ${f0(w.putWatched.serverCpuUsPerOp)}`,
      `${f0(w.putUnwatched.clientCpuUsPerOp)} / ${f0(w.putWatched.clientCpuUsPerOp)}`,
      String(w.events),
      `${w.deliveredPct.toFixed(1)}%`,
      errorsText({ ...w.putUnwatched.errors, ...w.putWatched.errors }),
      la(w.loadAvg),
    ]);
    out.push(
      '',
      `watches on member ${opt(r.watchMember, (m) => String(m + 1))} (the leader when the sweep started), ` +
        (r.watchApi === 'many'
          ? 'over WatchMany: one stream per connection'
          : 'over Watch: one call per watch'),
      renderTable(
        [
          'watches',
          'conns',
          'open',
          'open errors',
          'RSS MiB open',
          'ΔRSS open',
          'RSS MiB after puts',
          'ΔRSS after puts',
          'Δheap after puts',
          'put unwatched ops/s (p99 ms)',
          'vs 0',
          'put watched ops/s (p99 ms)',
          'vs 0',
          'w vs unw',
          'srv µs/put (unw / w)',
          'client µs/put (unw / w)',
          'events',
          'delivered',
          'put errors',
          'load avg',
        ],
        rows,
      ),
    );
  }
  return out.join('\n');
}
