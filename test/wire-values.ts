/** Random protobuf field values for the hand-decoder tests (client and member), reproducible by seed. */

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WireValues {
  pick: <T>(xs: readonly T[]) => T;
  /** uint64 as a decimal string: small, 32-bit, near 2^53, past 2^53, the maximum. */
  u64: () => string;
  /** int64 as a decimal string: negative, both extremes, large positive. */
  i64: () => string;
}

export function wireValues(r: () => number): WireValues {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return {
    pick,
    u64: () =>
      pick([
        () => '0',
        () => String(Math.floor(r() * 128)),
        () => String(Math.floor(r() * 2 ** 32)),
        () => String(Math.floor(r() * 2 ** 53)),
        () => String(2n ** 53n + BigInt(Math.floor(r() * 1e9))),
        () => '18446744073709551615',
      ])(),
    i64: () =>
      pick([
        () => '0',
        () => '-1',
        () => String(-Math.floor(r() * 2 ** 40)),
        () => String(-(2 ** 53 - 1)),
        () => String(-(2 ** 53)),
        () => '-9223372036854775808',
        () => '9223372036854775807',
        () => String(Math.floor(r() * 2 ** 50)),
      ])(),
  };
}
