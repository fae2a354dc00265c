import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/client/abort.js';
import { Sequencer } from '../../src/client/sequencer.js';

describe('Sequencer (exactly-once headers)', () => {
  it('firstUnacked is the oldest sequence in flight, or the next one when idle', () => {
    const s = new Sequencer('c');
    expect(s.firstUnacked()).toBe(1);
    const a = s.begin();
    const b = s.begin();
    const c = s.begin();
    expect(s.header(b)).toEqual({ clientId: 'c', sequence: 2, firstUnacked: 1 });
    s.end(b);
    expect(s.firstUnacked()).toBe(a);
    s.end(a);
    expect(s.firstUnacked()).toBe(c);
    s.end(c);
    expect(s.firstUnacked()).toBe(4);
  });

  it('matches a simple reference model under any interleaving of begin/end', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(-1), fc.nat(20)), { maxLength: 200 }), (script) => {
        const s = new Sequencer('c');
        let next = 1;
        const open: number[] = [];
        for (const step of script) {
          if (step === -1 || open.length === 0) {
            expect(s.begin()).toBe(next);
            open.push(next++);
          } else {
            const [seq] = open.splice(step % open.length, 1);
            s.end(seq!);
          }
          // Reference: the smallest open sequence; every sequence below it was answered.
          expect(s.firstUnacked()).toBe(open.length > 0 ? Math.min(...open) : next);
        }
      }),
    );
  });
});

describe('backoff', () => {
  const opts = { baseMs: 10, maxMs: 100 };
  it('retries other members at once, then grows exponentially to the cap with jitter', () => {
    expect(backoffMs(1, 3, opts)).toBe(0);
    expect(backoffMs(2, 3, opts)).toBe(0);
    expect(backoffMs(3, 3, opts, () => 0)).toBe(5);
    expect(backoffMs(3, 3, opts, () => 1)).toBe(10);
    expect(backoffMs(5, 3, opts, () => 1)).toBe(40);
    expect(backoffMs(50, 3, opts, () => 1)).toBe(100);
    expect(backoffMs(50, 3, opts, () => 0)).toBe(50);
  });
});
