import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/transport/backoff.js';

describe('reconnect backoff', () => {
  it.each([
    ['lowest jitter', 0, [40, 80, 160, 320, 640, 800, 800]],
    ['no jitter', 0.5, [50, 100, 200, 400, 800, 1000, 1000]],
    ['highest jitter', 0.999999, [60, 120, 240, 480, 960, 1200, 1200]],
  ])('doubles from initialMs up to maxMs within ±20%% (%s)', (_name, r, expected) => {
    const b = new Backoff({ initialMs: 50, maxMs: 1000 }, () => r);
    expect(Array.from({ length: 7 }, () => b.next())).toEqual(expected);
  });

  it('starts over after reset()', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1000 }, () => 0.5);
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(10);
  });
});
