import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RegisterOp } from './history.js';
import { checkRegisters } from './linearizability.js';
import { INIT, linearizableHistory } from './gen.js';

const init = (): { value: string; version: number } => ({ value: INIT, version: 0 });
let nextId = 0;
type Spec = Partial<RegisterOp> & Pick<RegisterOp, 'f' | 'call' | 'ret'>;
const op = (o: Spec): RegisterOp => ({ id: nextId++, process: 'p', key: 'k', outcome: 'ok', ...o });
const read = (call: number, ret: number, value: string, version: number): RegisterOp =>
  op({ f: 'read', call, ret, result: { value, version } });
const write = (call: number, ret: number, value: string, version: number): RegisterOp =>
  op({ f: 'write', call, ret, value, result: { version } });

describe('linearizable histories pass', () => {
  it.each<[string, RegisterOp[]]>([
    ['sequential write then read', [write(0, 1, 'a', 1), read(2, 3, 'a', 1)]],
    ['a read concurrent with a write sees the old value', [write(0, 10, 'a', 1), read(1, 2, INIT, 0)]],
    ['a read concurrent with a write sees the new value', [write(0, 10, 'a', 1), read(1, 2, 'a', 1)]],
    ['concurrent writes in either order', [write(0, 10, 'a', 2), write(1, 9, 'b', 1), read(11, 12, 'a', 2)]],
    [
      'an unknown write that never took effect',
      [op({ f: 'write', call: 0, ret: Infinity, value: 'x', outcome: 'info' }), read(5, 6, INIT, 0)],
    ],
    [
      'an unknown write that took effect long after its call',
      [
        op({ f: 'write', call: 0, ret: Infinity, value: 'x', outcome: 'info' }),
        read(5, 6, INIT, 0),
        read(50, 60, 'x', 1),
      ],
    ],
    [
      'cas applies on the expected version and is refused otherwise',
      [
        write(0, 1, 'a', 1),
        op({ f: 'cas', call: 2, ret: 3, value: 'b', expected: 1, result: { applied: true, version: 2 } }),
        op({ f: 'cas', call: 4, ret: 5, value: 'c', expected: 1, result: { applied: false } }),
        read(6, 7, 'b', 2),
      ],
    ],
    [
      'an unknown cas that applied',
      [
        op({ f: 'cas', call: 0, ret: Infinity, value: 'b', expected: 0, outcome: 'info' }),
        read(3, 4, 'b', 1),
      ],
    ],
    [
      'a definitely failed write is ignored',
      [op({ f: 'write', call: 0, ret: 1, value: 'z', outcome: 'fail' }), read(2, 3, INIT, 0)],
    ],
  ])('%s', (_name, h) => {
    const r = checkRegisters(h, init);
    expect(r.failures).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('random linearizable histories pass (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const h = linearizableHistory({ seed, keys: 3, processes: 5, opsPerProcess: 12, infoRate: 0.1 });
        expect(checkRegisters(h, init).valid).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('decides tens of thousands of operations over many keys', () => {
    const h = linearizableHistory({ seed: 7, keys: 400, processes: 20, opsPerProcess: 1500 });
    const r = checkRegisters(h, init);
    expect(r.checked).toBeGreaterThan(25_000);
    expect(r.valid).toBe(true);
  });
});

describe('anomalies are caught', () => {
  it.each<[string, RegisterOp[]]>([
    [
      'stale read: a read after a completed write sees the old value',
      [write(0, 1, 'a', 1), read(2, 3, INIT, 0)],
    ],
    [
      'stale read: a later read goes back in time after an earlier read saw the new value',
      [write(0, 100, 'a', 1), read(1, 2, 'a', 1), read(3, 4, INIT, 0)],
    ],
    [
      'lost write: two acknowledged writes were both given version 1',
      [write(0, 1, 'a', 1), write(2, 3, 'b', 1), read(4, 5, 'b', 1)],
    ],
    [
      'lost write: a final read misses an acknowledged write',
      [write(0, 1, 'a', 1), write(2, 3, 'b', 2), read(4, 5, 'a', 1)],
    ],
    [
      'read of an uncommitted write: data of a write that definitely failed',
      [op({ f: 'write', call: 0, ret: 1, value: 'z', outcome: 'fail' }), read(2, 3, 'z', 1)],
    ],
    [
      'duplicate apply of a retried write: the version moved twice',
      [write(0, 10, 'a', 1), read(11, 12, 'a', 2)],
    ],
    [
      'cas refused although the version matched',
      [
        op({ f: 'cas', call: 0, ret: 1, value: 'b', expected: 0, result: { applied: false } }),
        read(2, 3, INIT, 0),
      ],
    ],
  ])('%s', (_name, h) => {
    const r = checkRegisters(h, init);
    expect(r.valid).toBe(false);
    expect(r.failures.map((f) => f.key)).toEqual(['k']);
  });

  it('reports the smallest failing window, not the whole history', () => {
    const h: RegisterOp[] = [];
    for (let i = 1; i <= 30; i++)
      h.push(write(i * 10, i * 10 + 1, `w${i}`, i), read(i * 10 + 2, i * 10 + 3, `w${i}`, i));
    const bad = read(400, 401, 'w10', 10); // long after w30
    h.push(bad, write(410, 411, 'after', 31), read(420, 421, 'after', 31));
    const r = checkRegisters(h, init);
    expect(r.valid).toBe(false);
    const w = r.failures[0]?.window ?? [];
    expect(w.map((o) => o.id)).toContain(bad.id);
    expect(w.length).toBeLessThanOrEqual(3);
    expect(w.some((o) => o.value === 'after')).toBe(false);
  });

  it('catches a stale read buried in a long random history', () => {
    const h = linearizableHistory({ seed: 11, keys: 5, processes: 8, opsPerProcess: 100 });
    const lastWrite = [...h].reverse().find((o) => o.f === 'write' && o.outcome === 'ok' && o.key === 'k0')!;
    const end = Math.max(...h.filter((o) => o.ret !== Infinity).map((o) => o.ret));
    h.push({
      id: 99_999,
      process: 'late',
      key: 'k0',
      f: 'read',
      outcome: 'ok',
      call: end + 1,
      ret: end + 2,
      result: { value: INIT, version: 0 },
    });
    expect(lastWrite).toBeDefined();
    const r = checkRegisters(h, init);
    expect(r.valid).toBe(false);
    expect(r.failures.map((f) => f.key)).toEqual(['k0']);
  });
});
