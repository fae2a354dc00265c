/**
 * The wire/backup format of a state-machine snapshot: a sequence of self-checking chunks.
 * Chunks arrive over the network from another member (InstallSnapshot, Raft §7) or from a
 * backup file, so decoding treats them as hostile: every length is bounded before use, a CRC32
 * covers the whole chunk, and the stream must be in order, for the expected snapshot, with
 * strictly increasing keys and an explicit final chunk carrying the total record count — so a
 * truncated, reordered, replayed or mixed-up stream is refused instead of installed.
 *
 *   'A' 'S' 0x01                magic + format version
 *   u8 flags                    bit 0: final chunk
 *   uvarint index, uvarint term the snapshot these records belong to
 *   uvarint seq                 0, 1, 2, ...
 *   [uvarint total]             only in the final chunk: records in the whole snapshot
 *   records until the trailer:  uvarint keyLen, key, uvarint valueLen, value
 *   u32be crc32                 over every byte before it
 */
import { crc32 } from 'node:zlib';
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { err, ok, type Result } from '../util/result.js';

const MAGIC0 = 0x41; // 'A'
const MAGIC1 = 0x53; // 'S'
const VERSION = 1;
const FLAG_FINAL = 1;
/** Tree keys are paths; anything longer than this is not ours. */
export const MAX_KEY_BYTES = 64 * 1024;
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Refuse absurd chunks before even checksumming them. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

export interface ChunkHeader {
  readonly index: number;
  readonly term: number;
  readonly seq: number;
  /** Present only on the final chunk. */
  readonly total: number | undefined;
}

export interface DecodedChunk extends ChunkHeader {
  /** Views into the chunk buffer. */
  readonly records: ReadonlyArray<readonly [Uint8Array, Uint8Array]>;
}

/** Builds chunks of at most ~maxBytes of records each. */
export class ChunkEncoder {
  private body = new ByteWriter(4096);
  private seq = 0;
  private total = 0;

  constructor(
    private readonly index: number,
    private readonly term: number,
    private readonly maxBytes: number,
  ) {}

  /** Adds a record; returns a finished chunk when this one is full. */
  add(key: Uint8Array, value: Uint8Array): Uint8Array | undefined {
    this.body.bytes(key).bytes(value);
    this.total++;
    return this.body.length >= this.maxBytes ? this.flush(false) : undefined;
  }

  /** The final chunk (possibly with no records: an empty tree is still a complete snapshot). */
  finish(): Uint8Array {
    return this.flush(true);
  }

  private flush(final: boolean): Uint8Array {
    const body = this.body.finish();
    const head = new ByteWriter(32)
      .u8(MAGIC0)
      .u8(MAGIC1)
      .u8(VERSION)
      .u8(final ? FLAG_FINAL : 0)
      .uvarint(this.index)
      .uvarint(this.term)
      .uvarint(this.seq++);
    if (final) head.uvarint(this.total);
    const h = head.finish();
    const out = new Uint8Array(h.length + body.length + 4);
    out.set(h, 0);
    out.set(body, h.length);
    const view = new DataView(out.buffer);
    view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
    this.body = new ByteWriter(Math.min(this.maxBytes + 1024, 1 << 20));
    return out;
  }
}

/** Validates one chunk in isolation (checksum, framing, bounds). Stream rules are the installer's. */
export function decodeChunk(chunk: Uint8Array): Result<DecodedChunk, string> {
  if (!(chunk instanceof Uint8Array)) return err('chunk is not bytes');
  if (chunk.length > MAX_CHUNK_BYTES) return err(`chunk of ${chunk.length} bytes exceeds the limit`);
  if (chunk.length < 4 + 8) return err(`chunk of ${chunk.length} bytes is too short`);
  if (chunk[0] !== MAGIC0 || chunk[1] !== MAGIC1) return err('not a snapshot chunk (bad magic)');
  if (chunk[2] !== VERSION) return err(`unsupported snapshot chunk version ${chunk[2]}`);
  const bodyEnd = chunk.length - 4;
  const stored = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength).getUint32(bodyEnd);
  if (crc32(chunk.subarray(0, bodyEnd)) !== stored) return err('chunk checksum mismatch');
  const body = chunk.subarray(0, bodyEnd);
  const r = new ByteReader(body);
  try {
    r.u8();
    r.u8();
    r.u8();
    const flags = r.u8();
    if ((flags & ~FLAG_FINAL) !== 0) return err(`unknown chunk flags ${flags}`);
    const index = r.uvarint();
    const term = r.uvarint();
    const seq = r.uvarint();
    const total = (flags & FLAG_FINAL) !== 0 ? r.uvarint() : undefined;
    const records: Array<readonly [Uint8Array, Uint8Array]> = [];
    while (!r.done) {
      const key = r.bytes();
      if (key.length > MAX_KEY_BYTES) return err(`record key of ${key.length} bytes exceeds the limit`);
      const value = r.bytes();
      records.push([key, value]);
    }
    return ok({ index, term, seq, total, records });
  } catch (e) {
    // ByteReader bounds every length by the input; anything it throws is malformed framing.
    return err(`malformed chunk: ${(e as Error).message}`);
  }
}

/** Lexicographic byte order: LevelDB's default comparator, which the snapshot keys follow. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
