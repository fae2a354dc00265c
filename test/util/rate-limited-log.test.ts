import { describe, expect, it } from 'vitest';
import { RateLimitedLog } from '../../src/util/rate-limited-log.js';

describe('RateLimitedLog', () => {
  it('writes one line per key per interval, with the count it held back', () => {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    let now = 1_000;
    const log = new RateLimitedLog({ warn: (fields, msg) => lines.push({ fields, msg }) }, 5_000, () => now);
    for (let i = 0; i < 100; i++) log.warn('undecodable-2', { from: 2, i }, 'dropped');
    log.warn('undecodable-3', { from: 3 }, 'dropped');
    expect(lines).toEqual([
      { fields: { from: 2, i: 0, suppressed: 0 }, msg: 'dropped' },
      { fields: { from: 3, suppressed: 0 }, msg: 'dropped' },
    ]);
    now += 4_999;
    log.warn('undecodable-2', { from: 2, i: 100 }, 'dropped');
    expect(lines).toHaveLength(2);
    now += 1;
    log.warn('undecodable-2', { from: 2, i: 101 }, 'dropped');
    expect(lines[2]).toEqual({ fields: { from: 2, i: 101, suppressed: 100 }, msg: 'dropped' });
  });
});
