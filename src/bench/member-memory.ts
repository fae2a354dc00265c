/**
 * Memory of a member process: resident set now and at its peak from /proc/<pid>/status (Linux),
 * and the V8 heap in use as the member itself reports it on /metrics (prom-client's
 * nodejs_heap_size_used_bytes). RSS is what an operator's memory limit sees; the heap says how
 * much of it is live JavaScript objects (sampled without forcing a GC, so garbage counts too).
 */
import { readFileSync } from 'node:fs';

export interface MemorySample {
  /** VmRSS in MiB. */
  readonly rssMB: number;
  /** VmHWM (peak RSS since the process started) in MiB. */
  readonly peakRssMB: number;
  /** V8 heap used in MiB; undefined when /metrics did not answer. */
  readonly heapUsedMB: number | undefined;
}

const MIB = 1024 * 1024;

/** VmRSS and VmHWM of `pid` in KiB, or undefined when the process is gone. */
export function procStatusMemory(pid: number): { rssKB: number; peakKB: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKB: field('VmRSS'), peakKB: field('VmHWM') };
}

/** nodejs_heap_size_used_bytes from a member's /metrics, in MiB. */
export async function metricsHeapUsedMB(httpAddr: string, timeoutMs = 5_000): Promise<number | undefined> {
  try {
    const res = await fetch(`http://${httpAddr}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)/m.exec(await res.text());
    return m ? Number(m[1]) / MIB : undefined;
  } catch {
    return undefined;
  }
}

export async function sampleMemory(pid: number | undefined, httpAddr: string): Promise<MemorySample> {
  const heapUsedMB = await metricsHeapUsedMB(httpAddr);
  const st = pid === undefined ? undefined : procStatusMemory(pid);
  return { rssMB: (st?.rssKB ?? 0) / 1024, peakRssMB: (st?.peakKB ?? 0) / 1024, heapUsedMB };
}
