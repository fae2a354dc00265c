import { describe, expect, it } from 'vitest';
import { putU32BE, putU64BE } from '../../src/util/bytes.js';

describe('big-endian integers', () => {
  it('write what DataView writes, at any offset, touching nothing else', () => {
    let seed = 11;
    const r = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const values = [0, 1, 0xff, 0x100, 0xffffffff, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 2_000; i++) values.push(Math.floor(r() * 2 ** (1 + Math.floor(r() * 53))));
    for (const v of values) {
      const at = Math.floor(r() * 5);
      const got = new Uint8Array(16).fill(0xaa);
      putU64BE(got, at, v);
      const want = new Uint8Array(16).fill(0xaa);
      new DataView(want.buffer).setBigUint64(at, BigInt(v));
      expect(got, `u64 ${v} at ${at}`).toEqual(want);
      if (v <= 0xffffffff) {
        const got32 = new Uint8Array(8).fill(0x55);
        putU32BE(got32, at, v);
        const want32 = new Uint8Array(8).fill(0x55);
        new DataView(want32.buffer).setUint32(at, v);
        expect(got32, `u32 ${v} at ${at}`).toEqual(want32);
      }
    }
  });
});
