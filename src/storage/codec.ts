/**
 * The on-disk layout of one member's LevelDB database: key prefixes and the binary record
 * codecs. No JSON anywhere (hot path), and every value carries a CRC32 over key + payload so a
 * flipped bit — or a value that ended up under the wrong key — is detected when read instead of
 * being fed to Raft or the tree.
 *
 *   'v'                      → "arbor-storage/1" (plain text, so a foreign format is recognisable)
 *   'h'                      → hard state (term, vote, commit)
 *   'l'                      → log start (index, term of the last entry dropped from the log)
 *   'a'                      → applied meta (tree generation, index, term, conf, extra)
 *   'e' + u64be(index)       → log entry (type, term, data)
 *   't' + u32be(gen) + key   → tree record of generation `gen` (only the generation named by
 *                              'a' is live; others are a half-installed or replaced snapshot)
 */
import { crc32 } from 'node:zlib';
import { ByteReader, ByteWriter, putU32BE, putU64BE, scratch } from '../util/bytes.js';
import { logIndex, nodeId, term, type LogIndex, type NodeId, type Term } from '../util/brand.js';
import { EntryType, type ConfState, type Entry, type HardState } from '../raft/types.js';
import type { AppliedMeta } from './store-interface.js';

export const FORMAT_VERSION = 'arbor-storage/1';

const byte = (c: string): number => c.charCodeAt(0);
export const KEY_VERSION = Uint8Array.of(byte('v'));
export const KEY_HARD_STATE = Uint8Array.of(byte('h'));
export const KEY_LOG_START = Uint8Array.of(byte('l'));
export const KEY_APPLIED = Uint8Array.of(byte('a'));
const P_ENTRY = byte('e');
const P_TREE = byte('t');

/** A record that failed its checksum or does not parse; the store turns it into StorageError. */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';
}

// ---- keys -------------------------------------------------------------------------------------

export function entryKey(index: number): Uint8Array {
  // A slab view: a small array of its own would be moved off V8's heap (a new ArrayBuffer) as
  // soon as crc32 or LevelDB touched its bytes.
  const k = scratch(9);
  k[0] = P_ENTRY;
  putU64BE(k, 1, index);
  return k;
}

/** Bounds for iterating every log key: [ENTRY_LO, ENTRY_HI). */
export const ENTRY_LO = entryKey(0);
export const ENTRY_HI = Uint8Array.of(P_ENTRY + 1);

export function entryKeyIndex(key: Uint8Array): number {
  if (key.length !== 9 || key[0] !== P_ENTRY) throw new CorruptRecordError('malformed log key');
  const v = new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(1);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptRecordError('log index out of range');
  return Number(v);
}

export function treePrefix(gen: number): Uint8Array {
  const k = scratch(5);
  k[0] = P_TREE;
  putU32BE(k, 1, gen);
  return k;
}

/** The exclusive upper bound of a generation's key range (the next generation's prefix). */
export function treePrefixEnd(gen: number): Uint8Array {
  return gen >= 0xffffffff ? Uint8Array.of(P_TREE + 1) : treePrefix(gen + 1);
}

export const TREE_LO = Uint8Array.of(P_TREE);
export const TREE_HI = Uint8Array.of(P_TREE + 1);

export function treeKey(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const k = scratch(prefix.length + key.length);
  k.set(prefix, 0);
  k.set(key, prefix.length);
  return k;
}

/** The generation of a tree key (for cleanup of stale generations). */
export function treeKeyGeneration(key: Uint8Array): number {
  if (key.length < 5 || key[0] !== P_TREE) throw new CorruptRecordError('malformed tree key');
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1);
}

// ---- sealed values: [crc32(key ++ payload) u32be][payload] -------------------------------------

/** A writer with 4 bytes reserved for the checksum that `seal` fills in. */
function sealedWriter(sizeHint: number): ByteWriter {
  return new ByteWriter(sizeHint + 4).u8(0).u8(0).u8(0).u8(0);
}

/**
 * Fills in the checksum; `tail` (if any) is appended without a length prefix — it runs to the
 * end of the record — so the big payloads (entry data, tree values) are copied exactly once.
 */
function seal(key: Uint8Array, w: ByteWriter, tail?: Uint8Array): Uint8Array {
  const head = w.finish();
  let buf = head;
  if (tail !== undefined) {
    buf = scratch(head.length + tail.length);
    buf.set(head, 0);
    buf.set(tail, head.length);
  }
  putU32BE(buf, 0, crc32(buf.subarray(4), crc32(key)));
  return buf;
}

/** Checks the checksum and returns the payload (a view, no copy). */
export function unseal(key: Uint8Array, value: Uint8Array): Uint8Array {
  if (value.length < 4) throw new CorruptRecordError('record shorter than its checksum');
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  const payload = value.subarray(4);
  if (crc32(payload, crc32(key)) !== stored) throw new CorruptRecordError('checksum mismatch');
  return payload;
}

function parse<T>(what: string, payload: Uint8Array, read: (r: ByteReader, size: number) => T): T {
  try {
    const r = new ByteReader(payload);
    const v = read(r, payload.length);
    r.end();
    return v;
  } catch (e) {
    if (e instanceof CorruptRecordError) throw e;
    throw new CorruptRecordError(`${what} does not parse: ${(e as Error).message}`);
  }
}

// ---- log entries -------------------------------------------------------------------------------

export function encodeEntry(key: Uint8Array, e: Entry): Uint8Array {
  return seal(key, sealedWriter(12).u8(e.type).uvarint(e.term), e.data);
}

export function decodeEntry(key: Uint8Array, value: Uint8Array): Entry {
  const index = entryKeyIndex(key);
  const p = unseal(key, value);
  const r = new ByteReader(p);
  try {
    const type = r.u8();
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
      throw new CorruptRecordError(`unknown entry type ${type}`);
    }
    const t = r.uvarint();
    const data = copyBytes(p.subarray(r.offset));
    return { index: logIndex(index), term: term(t), type, data };
  } catch (e) {
    if (e instanceof CorruptRecordError) throw e;
    throw new CorruptRecordError(`log entry ${index} does not parse: ${(e as Error).message}`);
  }
}

// ---- hard state / log start --------------------------------------------------------------------

export function encodeHardState(hs: HardState): Uint8Array {
  return seal(KEY_HARD_STATE, sealedWriter(16).uvarint(hs.term).uvarint(hs.vote).uvarint(hs.commit));
}

export function decodeHardState(value: Uint8Array): HardState {
  return parse('hard state', unseal(KEY_HARD_STATE, value), (r) => ({
    term: term(r.uvarint()),
    vote: nodeId(r.uvarint()),
    commit: logIndex(r.uvarint()),
  }));
}

export interface LogStart {
  readonly index: LogIndex;
  readonly term: Term;
}

export function encodeLogStart(ls: LogStart): Uint8Array {
  return seal(KEY_LOG_START, sealedWriter(12).uvarint(ls.index).uvarint(ls.term));
}

export function decodeLogStart(value: Uint8Array): LogStart {
  return parse('log start', unseal(KEY_LOG_START, value), (r) => ({
    index: logIndex(r.uvarint()),
    term: term(r.uvarint()),
  }));
}

// ---- applied meta ------------------------------------------------------------------------------

/** The applied meta plus the tree generation it makes live (internal to storage). */
export interface StoredApplied {
  readonly gen: number;
  readonly meta: AppliedMeta;
}

function writeIds(w: ByteWriter, ids: readonly NodeId[]): void {
  w.uvarint(ids.length);
  for (const id of ids) w.uvarint(id);
}

function readIds(r: ByteReader, size: number): NodeId[] {
  const n = r.uvarint();
  // Bound the count by the remaining bytes (each id takes at least one) before allocating.
  if (n > size - r.offset) throw new CorruptRecordError('id count exceeds record');
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) ids.push(nodeId(r.uvarint()));
  return ids;
}

export function encodeConf(w: ByteWriter, conf: ConfState): void {
  writeIds(w, conf.voters);
  writeIds(w, conf.learners);
}

/** `size` is the length of the buffer `r` reads (ByteReader does not expose it). */
export function decodeConf(r: ByteReader, size: number): ConfState {
  const voters = readIds(r, size);
  return { voters, learners: readIds(r, size) };
}

export function encodeApplied(a: StoredApplied): Uint8Array {
  const { meta } = a;
  const w = sealedWriter(32 + (meta.extra?.length ?? 0));
  w.uvarint(a.gen).uvarint(meta.index).uvarint(meta.term);
  encodeConf(w, meta.conf);
  if (meta.extra === undefined) w.u8(0);
  else w.u8(1).bytes(meta.extra);
  return seal(KEY_APPLIED, w);
}

export function decodeApplied(value: Uint8Array): StoredApplied {
  return parse('applied meta', unseal(KEY_APPLIED, value), (r, size) => {
    const gen = r.uvarint();
    if (gen > 0xffffffff) throw new CorruptRecordError('tree generation out of range');
    const index = logIndex(r.uvarint());
    const t = term(r.uvarint());
    const conf = decodeConf(r, size);
    const hasExtra = r.bool();
    const meta: AppliedMeta = hasExtra
      ? { index, term: t, conf, extra: copyBytes(r.bytes()) }
      : { index, term: t, conf };
    return { gen, meta };
  });
}

// ---- tree records ------------------------------------------------------------------------------

export function encodeTreeValue(key: Uint8Array, value: Uint8Array): Uint8Array {
  return seal(key, sealedWriter(0), value);
}

export function decodeTreeValue(key: Uint8Array, value: Uint8Array): Uint8Array {
  return copyBytes(unseal(key, value));
}

/**
 * decodeTreeValue without the copy: a plain Uint8Array view of the verified payload. classic-level
 * gives every value its own buffer, so a view pins no more than its own record.
 */
export function decodeTreeValueView(key: Uint8Array, value: Uint8Array): Uint8Array {
  const payload = unseal(key, value);
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
}

/**
 * A plain Uint8Array copy. LevelDB hands out Buffers, whose slice() is a view and whose class
 * differs from what the rest of Arbor (and deep-equality in tests) expects.
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
