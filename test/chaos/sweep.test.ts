/**
 * The bounded chaos sweep that runs with `npm test`: four nemesis mixes on real processes in
 * network namespaces, ~35–45 s of faults each (budget: under 6 minutes in all on a 2-core
 * machine). Any anomaly fails the test with the seed and the saved history path; rerun one with
 * `npm run test:chaos -- --seed N --nemesis MIX --members M --time S`.
 *
 * These tests need root (network namespaces, nftables); without it they fail, never skip.
 */
import { describe, expect, it } from 'vitest';
import { preflight } from './net.js';
import { MIXES } from './nemesis.js';
import { chaosRun, type RunResult } from './run.js';

const baseSeed = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) : Date.now() % 2 ** 31;

function report(r: RunResult): string {
  const o = r.operations;
  return [
    `seed ${r.seed}, ${r.members} members, faults ${r.faults.join(',')}, ${r.seconds}s (${r.elapsedMs} ms in all)`,
    `ops: ${o.ok} ok, ${o.fail} fail, ${o.info} info (${o.checked} checked), ${o.creates} sequential creates, ${o.sessions} sessions, ${o.watchEvents} watch events`,
    ...(r.savedTo !== undefined ? [`history saved under ${r.savedTo}`] : []),
    `rerun: npm run test:chaos -- --seed ${r.seed} --members ${r.members} --time ${r.seconds} --nemesis ${r.faults.join(',')}`,
    ...r.anomalies.map((a) => `ANOMALY: ${a.slice(0, 3000)}`),
    'nemesis:',
    ...r.nemesis,
  ].join('\n');
}

const runs: [string, number, number, readonly string[]][] = [
  ['partitions (halves, isolated leader, one-way, bridge)', 3, 40, MIXES.partitions!],
  ['crashes, pauses and leadership transfer', 3, 40, MIXES.crashes!],
  ['lossy and slow links, clock skew', 3, 35, MIXES.network!],
  ['everything at once, with wipe-and-rejoin, on five members', 5, 45, MIXES.all!],
];

describe('Arbor under faults', () => {
  it('has what the chaos harness needs (root, ip netns, nft, faketime)', () => {
    expect(() => preflight()).not.toThrow();
  });

  it.each(runs.map((r, i) => [...r, i] as const))(
    '%s: linearizable, converged, nothing lost',
    async (_name, members, seconds, faults, i) => {
      preflight();
      const r = await chaosRun({
        seed: baseSeed + i,
        members,
        seconds,
        faults: faults as RunResult['faults'],
        log: (l) => console.log(l),
      });
      console.log(report(r));
      expect(r.anomalies, report(r)).toEqual([]);
      expect(r.operations.ok, 'the workload made progress').toBeGreaterThan(100);
    },
    240_000,
  );
});
