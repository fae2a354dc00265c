/**
 * A small binary writer/reader for the hot-path codecs (log entries, commands, peer messages):
 * no JSON and no intermediate copies. Numbers are unsigned varints; lengths prefix byte strings.
 */
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/**
 * Writers' buffers are carved out of shared 64 KiB slabs. Every encoding on the write path (a
 * command, a peer message, a log record, a tree record) used to be an ArrayBuffer of its own:
 * a malloc, a free and a sweep by V8 each, which a profile of the leader under load put at about
 * a fifth of its CPU. Most encodings die within the turn that made them; the ones that live on
 * (proposals in the in-memory log until compaction) keep at most their slab alive.
 */
const SLAB = 64 * 1024;
const MAX_SCRATCH = 4 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/** `n` bytes, possibly sharing an ArrayBuffer with others (always respect byteOffset). */
export function scratch(n: number): Uint8Array {
  if (n > MAX_SCRATCH) return new Uint8Array(n);
  // 8-byte alignment keeps the DataView's 64-bit accesses on natural boundaries.
  const start = (slabUsed + 7) & ~7;
  if (start + n > slab.length) {
    slab = new Uint8Array(SLAB);
    slabUsed = n;
    return slab.subarray(0, n);
  }
  slabUsed = start + n;
  return slab.subarray(start, start + n);
}

/** `v` (a u32) big-endian at `at`. */
export function putU32BE(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

/** `v` (a safe non-negative integer) as u64 big-endian at `at`, without a DataView or a BigInt. */
export function putU64BE(buf: Uint8Array, at: number, v: number): void {
  putU32BE(buf, at, Math.floor(v / 0x100000000));
  putU32BE(buf, at + 4, v >>> 0);
}

/** Bytes of `v` (a safe non-negative integer) as a LEB128 varint. */
export function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `v` as a LEB128 varint at `at` (room is the caller's to ensure); returns the end. */
export function putUvarint(buf: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

/** uvarintSize for a non-negative bigint (protobuf uint64 values past 2^53). */
export function uvarintSizeBig(v: bigint): number {
  let n = 1;
  for (let x = v; x >= 0x80n; x >>= 7n) n++;
  return n;
}

/** putUvarint for a non-negative bigint (up to ten bytes for 64 bits). */
export function putUvarintBig(buf: Uint8Array, at: number, v: bigint): number {
  let x = v;
  while (x >= 0x80n) {
    buf[at++] = Number(x & 0x7fn) | 0x80;
    x >>= 7n;
  }
  buf[at++] = Number(x);
  return at;
}

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = scratch(initial);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = scratch(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Unsigned integer up to 2^53 - 1 as a LEB128 varint. */
  uvarint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`uvarint out of range: ${v}`);
    this.ensure(8);
    this.pos = putUvarint(this.buf, this.pos, v);
    return this;
  }

  /** Signed integer (zig-zag) for values like expected_version = -1. */
  svarint(v: number): this {
    return this.uvarint(v < 0 ? -2 * v - 1 : 2 * v);
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.view.setBigUint64(this.pos, v);
    this.pos += 8;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    // Worst case UTF-8 is 3 bytes per UTF-16 unit; encode straight into the buffer.
    this.ensure(s.length * 3 + 5);
    const start = this.pos;
    this.pos += 5; // reserve room for the length prefix, fixed-width so we can back-patch it
    const { written } = enc.encodeInto(s, this.buf.subarray(this.pos));
    let len = written;
    for (let i = 0; i < 5; i++) {
      this.buf[start + i] = (len & 0x7f) | (i < 4 ? 0x80 : 0);
      len = Math.floor(len / 0x80);
    }
    this.pos += written;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  get length(): number {
    return this.pos;
  }

  /** The written bytes (a view, not a copy: do not reuse the writer afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DecodeError(`truncated input at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new DecodeError('varint exceeds 2^53');
        return result;
      }
      mul *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  svarint(): number {
    const z = this.uvarint();
    return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A view into the input (no copy). */
  bytes(): Uint8Array {
    const n = this.uvarint();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string {
    try {
      return dec.decode(this.bytes());
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('invalid UTF-8');
    }
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError(`invalid bool ${v}`);
    return v === 1;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  get offset(): number {
    return this.pos;
  }

  end(): void {
    if (!this.done) throw new DecodeError(`${this.buf.length - this.pos} trailing bytes`);
  }
}
