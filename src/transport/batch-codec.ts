/**
 * MessageBatch (proto/arbor/v1/raft.proto) encoded and decoded by hand. Every Raft message a
 * member sends crosses this twice; protobufjs built and walked four objects per batch
 * (fromObject, encode, decode, toObject) to move what is a string, two ids and a list of opaque
 * byte strings. Both directions produce exactly the bytes and objects proto-loader does, so
 * members on either side of an upgrade interoperate; anything unexpected (odd field types,
 * ids past 2^53, non-Uint8Array elements) is handed to proto-loader's own functions.
 */
import { putUvarint, uvarintSize } from '../util/bytes.js';
import { Reader } from '../util/proto-reader.js';

/** MessageBatch, camelCased by proto-loader. uint64 ids arrive as numbers (longs: Number). */
export interface MessageBatch {
  clusterId: string;
  from: number;
  to: number;
  messages: Uint8Array[];
}

const TAG_CLUSTER_ID = (1 << 3) | 2;
const TAG_FROM = (2 << 3) | 0;
const TAG_TO = (3 << 3) | 0;
const TAG_MESSAGES = (4 << 3) | 2;

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The wire bytes of `b`, or undefined when it is not the plain shape this writes. Like
 * protobufjs, a field present in the object is written even when it holds the default value.
 */
export function encodeMessageBatch(b: MessageBatch): Buffer | undefined {
  const { clusterId, from, to, messages } = b;
  const hasId = clusterId !== undefined && clusterId !== null;
  const hasFrom = from !== undefined && from !== null;
  const hasTo = to !== undefined && to !== null;
  if ((hasId && typeof clusterId !== 'string') || (hasFrom && !isId(from)) || (hasTo && !isId(to)))
    return undefined;
  if (messages !== undefined && messages !== null && !Array.isArray(messages)) return undefined;
  const idBytes = hasId ? Buffer.byteLength(clusterId) : 0;
  let size = 0;
  if (hasId) size += 1 + uvarintSize(idBytes) + idBytes;
  if (hasFrom) size += 1 + uvarintSize(from);
  if (hasTo) size += 1 + uvarintSize(to);
  for (const m of messages ?? []) {
    if (!(m instanceof Uint8Array)) return undefined;
    size += 1 + uvarintSize(m.length) + m.length;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  if (hasId) {
    out[pos++] = TAG_CLUSTER_ID;
    pos = putUvarint(out, pos, idBytes);
    pos += out.write(clusterId, pos, 'utf8');
  }
  if (hasFrom) {
    out[pos++] = TAG_FROM;
    pos = putUvarint(out, pos, from);
  }
  if (hasTo) {
    out[pos++] = TAG_TO;
    pos = putUvarint(out, pos, to);
  }
  for (const m of messages ?? []) {
    out[pos++] = TAG_MESSAGES;
    pos = putUvarint(out, pos, m.length);
    out.set(m, pos);
    pos += m.length;
  }
  return out;
}

/**
 * The batch in `buf`: ids as numbers, each message a view into `buf` (no copy, as protobufjs
 * does for Buffers). Undefined when the bytes are not what encodeMessageBatch or protobufjs
 * would write for a plain batch (wrong wire types, ids past 2^53, truncation): the caller
 * hands those to proto-loader, which decodes or refuses them as it always did.
 */
export function decodeMessageBatch(buf: Buffer): MessageBatch | undefined {
  const r = new Reader(buf, 0, buf.length);
  let clusterId = '';
  let from = 0;
  let to = 0;
  const messages: Uint8Array[] = [];
  try {
    while (r.more) {
      const at = r.pos;
      const tag = r.tag();
      // protobufjs reads tags and lengths as 32-bit varints and skips an overlong one's tail
      // blindly; such bytes are not ours to interpret differently.
      if (r.pos - at > 5) return undefined;
      switch (tag) {
        case TAG_CLUSTER_ID: {
          // Cluster ids are ASCII; other text goes to protobufjs so it decodes it its own way.
          const start = r.pos;
          const s = r.asciiString();
          if (s === undefined || r.pos - s.length - start > 5) return undefined;
          clusterId = s;
          break;
        }
        case TAG_FROM: {
          const v = r.uint64Value();
          if (typeof v !== 'number') return undefined;
          from = v;
          break;
        }
        case TAG_TO: {
          const v = r.uint64Value();
          if (typeof v !== 'number') return undefined;
          to = v;
          break;
        }
        case TAG_MESSAGES: {
          const start = r.pos;
          const m = r.bytesView();
          if (r.pos - m.length - start > 5) return undefined;
          messages.push(m);
          break;
        }
        default: {
          const field = tag >>> 3;
          // A known field with another wire type, or field 0: not a batch either end writes.
          if (field <= 4) return undefined;
          if ((tag & 7) === 2) {
            const start = r.pos;
            const end = r.delimited();
            if (r.pos - start > 5) return undefined;
            r.pos = end;
          } else r.skip(tag & 7);
        }
      }
    }
  } catch {
    return undefined;
  }
  return { clusterId, from, to, messages };
}
