import { describe, expect, it } from 'vitest';
import { Hasher } from '../../src/tree/digest.js';

/**
 * The digest is compared across members, which may run different builds during a rolling
 * upgrade: the word loops of bytes() and str() must hash exactly what feeding the same words to
 * u32() one at a time does.
 */
function bytesByWords(h: Hasher, b: Uint8Array): Hasher {
  h.u32(b.length);
  let i = 0;
  for (; i + 3 < b.length; i += 4) h.u32(b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
  let tail = 0;
  for (let s = 0; i < b.length; i++, s += 8) tail |= b[i]! << s;
  return h.u32(tail);
}

function strByWords(h: Hasher, s: string): Hasher {
  h.u32(s.length);
  let i = 0;
  for (; i + 1 < s.length; i += 2) h.u32(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  if (i < s.length) h.u32(s.charCodeAt(i));
  return h;
}

describe('Hasher', () => {
  it('hashes bytes as their little-endian words, length first', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let len = 0; len <= 300; len++) {
      const d = data.subarray(0, len);
      const fast = new Hasher().reset(7).str('/p').bytes(d).u32(len).finish();
      const slow = bytesByWords(strByWords(new Hasher().reset(7), '/p'), d)
        .u32(len)
        .finish();
      expect([fast.lo, fast.hi], `length ${len}`).toEqual([slow.lo, slow.hi]);
    }
  });

  it('hashes strings as pairs of UTF-16 code units, length first', () => {
    for (const s of ['', 'a', 'ab', '/app/config', '/ünï/cödé/😀', 'x'.repeat(1001)]) {
      const fast = new Hasher()
        .reset(2)
        .str(s)
        .bytes(new Uint8Array([1, 2, 3]))
        .finish();
      const slow = bytesByWords(strByWords(new Hasher().reset(2), s), new Uint8Array([1, 2, 3])).finish();
      expect([fast.lo, fast.hi], JSON.stringify(s)).toEqual([slow.lo, slow.hi]);
    }
  });

  it('tells different payloads and word orders apart', () => {
    const h = (b: number[]): [number, number] => {
      const x = new Hasher().reset(2).bytes(Uint8Array.from(b)).finish();
      return [x.lo, x.hi];
    };
    expect(h([1, 2, 3, 4, 5, 6, 7, 8])).not.toEqual(h([5, 6, 7, 8, 1, 2, 3, 4]));
    expect(h([0])).not.toEqual(h([0, 0]));
    expect(h([])).not.toEqual(h([0]));
  });
});
