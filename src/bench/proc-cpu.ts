/**
 * CPU time of processes: utime + stime from /proc/<pid>/stat (Linux), in microseconds. Used for
 * the members the tool started itself; the load generator measures itself with
 * process.cpuUsage().
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc stat fields; 100 on every Linux we run on (getconf CLK_TCK). */
const CLK_TCK = 100;

/** utime+stime of `pid` in µs, or undefined when the process is gone. */
export function processCpuMicros(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces; fields after it are fixed.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1_000_000) / CLK_TCK;
}

/** Sum of CPU µs over `pids` (processes already gone contribute nothing). */
export function totalCpuMicros(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += processCpuMicros(pid) ?? 0;
  return total;
}

/** CPU µs of this process (user + system). */
export function selfCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
