/**
 * An incremental, order-independent 64-bit digest of the replicated state (ZooKeeper's
 * DataTree digest), so replicas can be compared cheaply: every record contributes a 64-bit
 * hash and the digest is their sum (two independent 32-bit lanes, each mod 2^32). Adding and
 * removing a record are O(record size). Pure JS (murmur3-style mixing), no node:crypto.
 * Not cryptographic: it detects divergence, it does not resist an adversary.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const D1 = 0x85ebca77;
const D2 = 0xc2b2ae3d;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A streaming hasher with two 32-bit lanes. Reuse via reset(); results in lo/hi. */
export class Hasher {
  private a = 0;
  private b = 0;
  private n = 0;
  lo = 0;
  hi = 0;

  reset(seed: number): this {
    this.a = (0x9747b28c ^ seed) >>> 0;
    this.b = (0x5bd1e995 ^ Math.imul(seed, 0x27d4eb2f)) >>> 0;
    this.n = 0;
    return this;
  }

  u32(x: number): this {
    this.mix(x);
    this.n++;
    return this;
  }

  /** u32() without counting the word (callers add their word count once). */
  private mix(x: number): void {
    let k = Math.imul(x, C1);
    k = Math.imul(rotl(k, 15), C2);
    this.a = (Math.imul(rotl(this.a ^ k, 13), 5) + 0xe6546b64) | 0;
    let j = Math.imul(x, D1);
    j = Math.imul(rotl(j, 17), D2);
    this.b = (Math.imul(rotl(this.b ^ j, 11), 9) + 0x7feb352d) | 0;
  }

  /** Any finite number (integers up to 2^53 exactly). */
  num(x: number): this {
    const lo = x % 0x1_0000_0000;
    return this.u32(lo | 0).u32(Math.floor(x / 0x1_0000_0000) | 0);
  }

  big(x: bigint): this {
    return this.u32(Number(x & 0xffffffffn)).u32(Number((x >> 32n) & 0xffffffffn));
  }

  /** UTF-16 code units, two per word, length-prefixed. */
  str(s: string): this {
    const n = s.length;
    this.u32(n);
    let i = 0;
    for (; i + 1 < n; i += 2) this.mix(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    if (i < n) this.u32(s.charCodeAt(i));
    this.n += n >>> 1;
    return this;
  }

  /** Bytes, four per word, length-prefixed. */
  bytes(b: Uint8Array): this {
    const n = b.length;
    this.u32(n);
    // The word loop keeps both lanes in locals: a znode's payload is hashed on every write (old
    // and new value), and per-word property traffic was most of its cost.
    let a = this.a;
    let c = this.b;
    let i = 0;
    for (; i + 3 < n; i += 4) {
      const x =
        (b[i] as number) |
        ((b[i + 1] as number) << 8) |
        ((b[i + 2] as number) << 16) |
        ((b[i + 3] as number) << 24);
      const k = Math.imul(rotl(Math.imul(x, C1), 15), C2);
      a = (Math.imul(rotl(a ^ k, 13), 5) + 0xe6546b64) | 0;
      const j = Math.imul(rotl(Math.imul(x, D1), 17), D2);
      c = (Math.imul(rotl(c ^ j, 11), 9) + 0x7feb352d) | 0;
    }
    this.a = a;
    this.b = c;
    this.n += n >>> 2;
    let tail = 0;
    for (let s = 0; i < n; i++, s += 8) tail |= (b[i] as number) << s;
    return this.u32(tail);
  }

  finish(): this {
    this.lo = fmix((this.a ^ this.n) >>> 0);
    this.hi = fmix((this.b ^ Math.imul(this.n, 0x9e3779b1)) >>> 0);
    return this;
  }
}

/** Sum of record hashes, two lanes mod 2^32. */
export class Digest {
  private lo = 0;
  private hi = 0;

  add(h: Hasher): void {
    this.lo = (this.lo + h.lo) >>> 0;
    this.hi = (this.hi + h.hi) >>> 0;
  }

  sub(h: Hasher): void {
    this.lo = (this.lo - h.lo) >>> 0;
    this.hi = (this.hi - h.hi) >>> 0;
  }

  reset(): void {
    this.lo = 0;
    this.hi = 0;
  }

  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}
