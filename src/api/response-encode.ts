/**
 * The session stream's common answers (create, get, set, delete, exists, errors, and packs of
 * them) encoded by hand. protobufjs serializes a plain object in two passes (`fromObject` into a
 * message, then `encode`), and every 64-bit Stat field goes through Long on the way: a leader
 * answering 64 outstanding writes spent more on that than on the rest of answering them.
 *
 * The objects are the handlers' own (convert.ts: snake_case, 64-bit values as numbers or decimal
 * strings). Anything else — another result, a value of an unexpected type — returns undefined
 * and goes through proto-loader's serializer as before. Fields at their default value are left
 * out, as proto3 allows (a reader cannot tell the difference), and so are absent ones, as
 * protobufjs's `fromObject` does.
 */
import { putUvarint } from '../util/bytes.js';

type Msg = Record<string, unknown>;

const VARINT = 0;
const LEN = 2;
const TWO_64 = 1n << 64n;
const BIG_BYTES = 64 * 1024;

/** Thrown inside the encoder for a shape it does not take; never escapes encodeClientResponse. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('shape not encoded by hand');

/**
 * Appends fields to one growing buffer. A nested message reserves one byte for its length and
 * moves its bytes if the length turns out to need more.
 */
class Writer {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  reset(): void {
    this.pos = 0;
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

  /** Absent, zero or a positive safe integer: written (or skipped); false for anything else. */
  private small(field: number, v: unknown): boolean {
    if (v === 0 || v === '0' || v === undefined || v === null) return true;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return false;
    this.key(field, VARINT);
    this.pos = putUvarint(this.buf, this.pos, v);
    return true;
  }

  /** uint64/uint32: a non-negative safe integer or a decimal string. */
  unsigned(field: number, v: unknown): void {
    if (this.small(field, v)) return;
    const b = typeof v === 'string' ? BigInt(v) : undefined;
    if (b === undefined || b < 0n || b >= TWO_64) throw UNSUPPORTED;
    this.big(field, b);
  }

  /** int64/int32: a safe integer or a decimal string; negative values take ten bytes. */
  signed(field: number, v: unknown): void {
    if (this.small(field, v)) return;
    const b =
      typeof v === 'string'
        ? BigInt(v)
        : typeof v === 'number' && Number.isSafeInteger(v)
          ? BigInt(v)
          : undefined;
    if (b === undefined || b < -(TWO_64 >> 1n) || b >= TWO_64 >> 1n) throw UNSUPPORTED;
    this.big(field, BigInt.asUintN(64, b));
  }

  private big(field: number, v: bigint): void {
    this.key(field, VARINT);
    this.room(10);
    let x = v;
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
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
    let extra = 0;
    for (let v = len; v >= 0x80; v = Math.floor(v / 0x80)) extra++;
    this.room(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
    this.pos += extra;
    putUvarint(this.buf, at, len);
  }

  /** Nested message `m` at `field`, written by `body` (absent or null: not written). */
  message(field: number, m: unknown, body: (w: Writer, m: Msg) => void): void {
    if (m === undefined || m === null) return;
    if (typeof m !== 'object') throw UNSUPPORTED;
    const at = this.begin(field);
    body(this, m as Msg);
    this.end(at);
  }
}

function stat(w: Writer, s: Msg): void {
  w.unsigned(1, s.created_revision);
  w.unsigned(2, s.modified_revision);
  w.unsigned(3, s.children_revision);
  w.signed(4, s.version);
  w.signed(5, s.children_version);
  w.signed(6, s.created_ms);
  w.signed(7, s.modified_ms);
  w.unsigned(8, s.ephemeral_owner);
  w.unsigned(9, s.data_length);
  w.unsigned(10, s.num_children);
  w.signed(11, s.acl_version);
}

/** The results encoded here, by the handlers' key: ClientResponse field and body. */
const RESULTS: ReadonlyMap<string, readonly [number, (w: Writer, m: Msg) => void]> = new Map([
  [
    'error',
    [
      2,
      (w: Writer, m: Msg) => {
        w.signed(1, m.code);
        w.string(2, m.message);
        w.signed(3, m.failed_op);
      },
    ],
  ],
  [
    'create',
    [
      3,
      (w: Writer, m: Msg) => {
        w.string(1, m.path);
        w.message(2, m.stat, stat);
      },
    ],
  ],
  [
    'get',
    [
      4,
      (w: Writer, m: Msg) => {
        w.bytes(1, m.data);
        w.message(2, m.stat, stat);
        w.unsigned(3, m.revision);
      },
    ],
  ],
  ['set', [5, (w: Writer, m: Msg) => w.message(1, m.stat, stat)]],
  [
    'delete',
    [
      6,
      (_w: Writer, m: Msg) => {
        if (Object.keys(m).length > 0) throw UNSUPPORTED;
      },
    ],
  ],
  [
    'exists',
    [
      7,
      (w: Writer, m: Msg) => {
        w.bool(1, m.exists);
        w.message(2, m.stat, stat);
        w.unsigned(3, m.revision);
      },
    ],
  ],
]);

function response(w: Writer, m: Msg): void {
  for (const k in m) {
    const v = m[k];
    if (k === 'id') w.unsigned(1, v);
    else if (k === 'batch') {
      if (!Array.isArray(v)) throw UNSUPPORTED;
      for (const inner of v as unknown[]) w.message(12, inner, response);
    } else {
      const r = RESULTS.get(k);
      if (r === undefined || v === null || typeof v !== 'object') throw UNSUPPORTED;
      w.message(r[0], v, r[1]);
    }
  }
}

const writer = new Writer();

/** `m` as ClientResponse bytes, or undefined to let proto-loader serialize it. */
export function encodeClientResponse(m: Msg): Buffer | undefined {
  writer.reset();
  try {
    response(writer, m);
  } catch (e) {
    if (e === UNSUPPORTED || e instanceof SyntaxError || e instanceof RangeError) return undefined;
    throw e;
  }
  // A copy: the message waits in grpc-js's queue while the writer goes on.
  return Buffer.from(writer.buf.subarray(0, writer.pos));
}
