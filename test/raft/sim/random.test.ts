import { describe, expect, it } from 'vitest';
import { randomRun } from './random-run.js';

/**
 * SEED=n replays one seed; SEEDS=n runs n seeds (soak). Default: 1,000 seeds of 300 steps.
 */
const single = process.env['SEED'];
const count = Number(process.env['SEEDS'] ?? 1000);
const STEPS = Number(process.env['STEPS'] ?? 300);
const seeds = single !== undefined ? [Number(single)] : Array.from({ length: count }, (_, i) => i + 1);

describe('randomized cluster runs (safety after every step, liveness after healing)', () => {
  it(
    `${seeds.length} seeds x ${STEPS} steps`,
    () => {
      let leaders = 0;
      let applied = 0;
      let reads = 0;
      let maxLiveness = 0;
      for (const seed of seeds) {
        const r = randomRun(seed, STEPS);
        leaders += r.leaders;
        applied += r.maxApplied;
        reads += r.reads;
        maxLiveness = Math.max(maxLiveness, r.livenessTicks);
      }
      // The runs must actually exercise the protocol, not idle.
      expect(applied).toBeGreaterThan(seeds.length * 10);
      expect(leaders).toBeGreaterThan(seeds.length);
      if (seeds.length >= 100) expect(reads).toBeGreaterThan(0);
      console.log(
        `sim: ${seeds.length} seeds, ${leaders} leader terms, ${applied} entries applied, ${reads} reads served, worst liveness ${maxLiveness} ticks`,
      );
    },
    Math.max(60_000, seeds.length * 60),
  );
});
