import { describe, expect, it } from 'vitest';
import { ByteSlab, MAX_SLABBED_BYTES, SLAB_BYTES } from '../../src/util/byte-slab.js';

const bytes = (n: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (seed + i) & 0xff);

describe('ByteSlab', () => {
  it('returns equal copies that later writes to the source do not change', () => {
    const slab = new ByteSlab();
    const src = bytes(100, 7);
    const c = slab.copy(src);
    src.fill(0);
    expect(c).toEqual(bytes(100, 7));
  });

  it('cuts small copies from one shared buffer, without overlap', () => {
    const slab = new ByteSlab();
    const a = slab.copy(bytes(100, 1));
    const b = slab.copy(bytes(100, 2));
    expect(a.buffer).toBe(b.buffer);
    expect(a.buffer.byteLength).toBe(SLAB_BYTES);
    expect(b.byteOffset).toBe(a.byteOffset + a.length);
    expect([a, b]).toEqual([bytes(100, 1), bytes(100, 2)]);
  });

  it('starts a new slab when the current one is full', () => {
    const slab = new ByteSlab();
    const per = Math.floor(SLAB_BYTES / MAX_SLABBED_BYTES);
    const first = slab.copy(bytes(MAX_SLABBED_BYTES, 0));
    for (let i = 1; i < per; i++) slab.copy(bytes(MAX_SLABBED_BYTES, i));
    const next = slab.copy(bytes(MAX_SLABBED_BYTES, per));
    expect(next.buffer).not.toBe(first.buffer);
    expect(next).toEqual(bytes(MAX_SLABBED_BYTES, per));
  });

  it('gives arrays above the limit a buffer of their own', () => {
    const big = new ByteSlab().copy(bytes(MAX_SLABBED_BYTES + 1, 3));
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(MAX_SLABBED_BYTES + 1);
    expect(big).toEqual(bytes(MAX_SLABBED_BYTES + 1, 3));
  });
});
