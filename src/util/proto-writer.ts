/**
 * A protobuf wire-format writer for the hand-written encoders of hot messages (the member's
 * session-stream answers, the client's session-stream requests). 64-bit values come as numbers
 * or decimal strings and never go through Long. A value of a type a field cannot take throws
 * UNSUPPORTED, for the caller to hand the whole message to a generic encoder instead.
 */
import { putUvarint, putUvarintBig, uvarintSize } from './bytes.js';

type Msg = Record<string, unknown>;

const VARINT = 0;
const LEN = 2;
const TWO_64 = 1n << 64n;
const TWO_32 = 4294967296;
const BIG_BYTES = 64 * 1024;

/** Thrown for a value a field cannot take; encode() turns it into undefined. */
class Unsupported extends Error {}
export const UNSUPPORTED = new Unsupported('shape not encoded by hand');

/**
 * Appends fields to one growing buffer. A nested message reserves one byte for its length and
 * moves its bytes if the length turns out to need more.
 */
export class ProtoWriter {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  /**
   * The bytes `body` writes, copied out (a message waits in grpc-js's queue while the writer is
   * reused), or undefined when it met something it does not take.
   */
  encode<T>(m: T, body: (w: ProtoWriter, m: T) => void): Buffer | undefined {
    this.pos = 0;
    try {
      body(this, m);
    } catch (e) {
      if (e === UNSUPPORTED || e instanceof SyntaxError || e instanceof RangeError) return undefined;
      throw e;
    }
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private key(field: number, wire: number): void {
    this.room(11);
    this.pos = putUvarint(this.buf, this.pos, (field << 3) | wire);
  }

  /**
   * A safe integer given as a number or as a decimal string of up to 15 digits (how clients hold
   * 64-bit values), with `signed` a leading '-'; 0 for absent; undefined for anything else.
   */
  private static safe(v: unknown, signed: boolean): number | undefined {
    if (v === undefined || v === null) return 0;
    if (typeof v === 'number') return Number.isSafeInteger(v) && (signed || v >= 0) ? v : undefined;
    if (typeof v !== 'string') return undefined;
    const neg = signed && v.charCodeAt(0) === 45;
    const start = neg ? 1 : 0;
    if (v.length <= start || v.length - start > 15) return undefined;
    let n = 0;
    for (let i = start; i < v.length; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      n = n * 10 + d;
    }
    return neg ? -n : n;
  }

  /** uint64/uint32: a non-negative integer as a number or a decimal string. */
  unsigned(field: number, v: unknown): void {
    const n = ProtoWriter.safe(v, false);
    if (n === 0) return;
    if (n !== undefined) {
      this.key(field, VARINT);
      this.pos = putUvarint(this.buf, this.pos, n);
      return;
    }
    const b = typeof v === 'string' ? BigInt(v) : undefined;
    if (b === undefined || b < 0n || b >= TWO_64) throw UNSUPPORTED;
    this.big(field, b);
  }

  /** int64/int32: an integer as a number or a decimal string; negative values take ten bytes. */
  signed(field: number, v: unknown): void {
    const n = ProtoWriter.safe(v, true);
    if (n === 0) return;
    if (n !== undefined) {
      this.key(field, VARINT);
      if (n > 0) this.pos = putUvarint(this.buf, this.pos, n);
      else this.negative(n);
      return;
    }
    const b = typeof v === 'string' ? BigInt(v) : undefined;
    if (b === undefined || b < -(TWO_64 >> 1n) || b >= TWO_64 >> 1n) throw UNSUPPORTED;
    this.big(field, BigInt.asUintN(64, b));
  }

  /** A negative safe integer as its 64-bit two's complement varint (ten bytes), without BigInt. */
  private negative(n: number): void {
    this.room(10);
    let hi = Math.floor(n / TWO_32);
    let lo = n - hi * TWO_32;
    hi = (hi + TWO_32) >>> 0;
    while (hi !== 0 || lo >= 0x80) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  private big(field: number, v: bigint): void {
    this.key(field, VARINT);
    this.room(10);
    this.pos = putUvarintBig(this.buf, this.pos, v);
  }

  bool(field: number, v: unknown): void {
    if (v === undefined || v === null) return;
    if (typeof v !== 'boolean') throw UNSUPPORTED;
    if (!v) return;
    this.key(field, VARINT);
    this.buf[this.pos++] = 1;
  }

  string(field: number, v: unknown): void {
    if (v === undefined || v === null) return;
    if (typeof v !== 'string') throw UNSUPPORTED;
    if (v.length === 0) return;
    const n = Buffer.byteLength(v);
    this.key(field, LEN);
    this.room(10 + n);
    this.pos = putUvarint(this.buf, this.pos, n);
    this.pos += this.buf.write(v, this.pos, 'utf8');
  }

  bytes(field: number, v: unknown): void {
    if (v === undefined || v === null) return;
    // Big values go through protobufjs, which copies them once (here: into the writer, then out).
    if (!(v instanceof Uint8Array) || v.length > BIG_BYTES) throw UNSUPPORTED;
    if (v.length === 0) return;
    this.key(field, LEN);
    this.room(10 + v.length);
    this.pos = putUvarint(this.buf, this.pos, v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Starts a nested message; end() with what this returns closes it. */
  begin(field: number): number {
    this.key(field, LEN);
    this.room(1);
    return this.pos++;
  }

  end(at: number): void {
    const len = this.pos - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    const extra = uvarintSize(len) - 1;
    this.room(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    putUvarint(this.buf, at, len);
  }

  /** Nested message `m` at `field`, written by `body` (absent or null: not written). */
  message(field: number, m: unknown, body: (w: ProtoWriter, m: Msg) => void): void {
    if (m === undefined || m === null) return;
    if (typeof m !== 'object') throw UNSUPPORTED;
    const at = this.begin(field);
    body(this, m as Msg);
    this.end(at);
  }
}

/** Writes one message's fields. */
export type Body = (w: ProtoWriter, m: Msg) => void;

/**
 * A session-stream envelope (ClientRequest or ClientResponse): the id (field 1), one operation or
 * result by its key in `parts`, or a pack of envelopes at `batchField`.
 */
export function envelope(
  w: ProtoWriter,
  m: Msg,
  parts: ReadonlyMap<string, readonly [number, Body]>,
  batchField: number,
): void {
  for (const k in m) {
    const v = m[k];
    if (k === 'id') w.unsigned(1, v);
    else if (k === 'batch') {
      if (!Array.isArray(v)) throw UNSUPPORTED;
      const packed: Body = (iw, im) => envelope(iw, im, parts, batchField);
      for (const inner of v as unknown[]) w.message(batchField, inner, packed);
    } else {
      const part = parts.get(k);
      if (part === undefined || v === null || typeof v !== 'object') throw UNSUPPORTED;
      w.message(part[0], v, part[1]);
    }
  }
}

/**
 * About the most bytes a plain object can take on the wire: every field a tag of up to two bytes
 * and a length of up to five or a varint of up to ten, text at three bytes per UTF-16 unit. For
 * cutting packs below a message size limit, whatever the object holds (paths, ACL lists, names).
 */
export function approxWireSize(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'string') return 8 + v.length * 3;
  if (v instanceof Uint8Array) return 8 + v.length;
  if (typeof v !== 'object') return 12;
  let n = 8;
  if (Array.isArray(v)) {
    for (const x of v as unknown[]) n += approxWireSize(x);
    return n;
  }
  for (const k in v) n += approxWireSize((v as Msg)[k]);
  return n;
}
