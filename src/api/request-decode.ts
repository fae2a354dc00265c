/**
 * The session stream's common requests (create, set, delete, get, exists, sync, keep_alive)
 * decoded by hand, for the member that serves them. Through proto-loader every request paid a
 * generic decode plus a `toObject` pass whose 64-bit fields (id, sequence, first_unacked,
 * expected_version) each went through Long and its decimal `toString`: about 4% of a leader's
 * CPU at 64 outstanding writes. The handlers read fields through convert.ts's accessors, which
 * take a 64-bit value as a number or a decimal string, so values below 2^53 stay numbers here.
 *
 * Anything this decoder does not take exactly — unknown fields, a field with an unexpected wire
 * type, non-ASCII text, two operations in one request, ACL lists, malformed bytes — is handed to
 * proto-loader's own decoder, so such requests are decoded (or refused) as they always were.
 */
import { Reader } from '../util/proto-reader.js';

type Msg = Record<string, unknown>;

const VARINT = 0;
const LEN = 2;

/** The decoded request, or undefined to let proto-loader decode it. */
export function decodeClientRequest(buf: Buffer): Msg | undefined {
  try {
    return request(new Reader(buf, 0, buf.length), false);
  } catch {
    return undefined;
  }
}

/** Most requests one packed message may carry; more ends the stream with RESOURCE_EXHAUSTED. */
export const MAX_PACK = 1024;

/**
 * What a message with more than MAX_PACK packed requests decodes to, without decoding them: a
 * 4 MiB message of empty entries would otherwise become two million objects first.
 */
export const PACK_TOO_BIG: Readonly<Msg> = Object.freeze({ pack_too_big: true });

/** proto-loader's deserializer with the common requests decoded by hand first. */
export function withHandDecodedRequests(fallback: (b: Buffer) => unknown): (b: Buffer) => unknown {
  return (b: Buffer) => decodeClientRequest(b) ?? (packCount(b) > MAX_PACK ? PACK_TOO_BIG : fallback(b));
}

/** How many packed requests (field 11) `buf` carries, by skipping over them; 0 if malformed. */
function packCount(buf: Buffer): number {
  try {
    const r = new Reader(buf, 0, buf.length);
    let n = 0;
    while (r.more) {
      const tag = r.tag();
      if (tag === ((11 << 3) | LEN)) n++;
      r.skip(tag & 7);
    }
    return n;
  } catch {
    return 0;
  }
}

/** How one field is read; `header` is a nested RequestHeader. */
type Kind = 'ascii' | 'bytes' | 'u64' | 'i64' | 'enum' | 'bool' | 'header';

/** A message this decoder takes: its fields by tag (field number and wire type). */
interface Layout {
  readonly fields: ReadonlyMap<number, readonly [name: string, kind: Kind]>;
  /** proto-loader's defaults (`defaults: true`): every field is present in its object. */
  readonly defaults: () => Msg;
}

function layout(defaults: () => Msg, fields: Record<number, readonly [string, Kind]>): Layout {
  const byTag = new Map<number, readonly [string, Kind]>();
  for (const [no, f] of Object.entries(fields)) {
    const wire = f[1] === 'ascii' || f[1] === 'bytes' || f[1] === 'header' ? LEN : VARINT;
    byTag.set((Number(no) << 3) | wire, f);
  }
  return { fields: byTag, defaults };
}

const HEADER = layout(() => ({ client_id: '', sequence: 0, first_unacked: 0 }), {
  1: ['client_id', 'ascii'],
  2: ['sequence', 'u64'],
  3: ['first_unacked', 'u64'],
});
const READ = layout(() => ({ path: '', consistency: 0 }), {
  1: ['path', 'ascii'],
  2: ['consistency', 'enum'],
});

/** The operations decoded here, by ClientRequest field number; the others go to proto-loader. */
const OPS: ReadonlyMap<number, readonly [string, Layout]> = new Map([
  [
    2,
    [
      'create',
      // acl (7) is absent: a list of messages is rare enough to leave to proto-loader.
      layout(
        () => ({
          path: '',
          data: EMPTY,
          mode: 0,
          session_id: 0,
          ttl_ms: 0,
          create_parents: false,
          acl: [],
          header: null,
        }),
        {
          1: ['path', 'ascii'],
          2: ['data', 'bytes'],
          3: ['mode', 'enum'],
          4: ['session_id', 'u64'],
          5: ['ttl_ms', 'i64'],
          6: ['create_parents', 'bool'],
          15: ['header', 'header'],
        },
      ),
    ],
  ],
  [3, ['get', READ]],
  [
    4,
    [
      'set',
      layout(() => ({ path: '', data: EMPTY, expected_version: 0, header: null }), {
        1: ['path', 'ascii'],
        2: ['data', 'bytes'],
        3: ['expected_version', 'i64'],
        15: ['header', 'header'],
      }),
    ],
  ],
  [
    5,
    [
      'delete',
      layout(() => ({ path: '', expected_version: 0, recursive: false, header: null }), {
        1: ['path', 'ascii'],
        2: ['expected_version', 'i64'],
        3: ['recursive', 'bool'],
        15: ['header', 'header'],
      }),
    ],
  ],
  [6, ['exists', READ]],
  [9, ['sync', layout(() => ({ path: '' }), { 1: ['path', 'ascii'] })]],
  [10, ['keep_alive', layout(() => ({ session_id: 0 }), { 1: ['session_id', 'u64'] })]],
]);

/** The fields of one message, or undefined for anything `layout` does not describe exactly. */
function message(r: Reader, l: Layout): Msg | undefined {
  const m = l.defaults();
  while (r.more) {
    const f = l.fields.get(r.tag());
    if (f === undefined) return undefined;
    let v: unknown;
    switch (f[1]) {
      case 'ascii':
        v = r.asciiString();
        break;
      case 'bytes':
        v = r.bytesView();
        break;
      case 'u64':
        v = r.uint64Value();
        break;
      case 'i64':
        v = r.int64Value();
        break;
      case 'enum':
        // protobufjs reads an enum as int32: the varint's low 32 bits, signed.
        v = r.int32();
        break;
      case 'bool':
        // protobufjs's bool: the varint's low 32 bits are not zero.
        v = r.uint32() !== 0;
        break;
      case 'header':
        v = message(r.sub(), HEADER);
        break;
    }
    if (v === undefined) return undefined;
    m[f[0]] = v;
  }
  return m;
}

/** proto-loader's `batch` of a request that has none (read only). */
const NO_BATCH: readonly Msg[] = Object.freeze([]);

function request(r: Reader, inBatch: boolean): Msg | undefined {
  let id: number | string = 0;
  let op: string | undefined;
  let body: Msg | undefined;
  let batch: Msg[] | undefined;
  while (r.more) {
    const tag = r.tag();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === VARINT) {
      id = r.uint64Value();
      continue;
    }
    if (field === 11 && (tag & 7) === LEN && !inBatch) {
      // Nested batches (refused by the handler) are left to proto-loader.
      if ((batch ??= []).length === MAX_PACK) return PACK_TOO_BIG;
      const inner = request(r.sub(), true);
      if (inner === undefined) return undefined;
      batch.push(inner);
      continue;
    }
    const entry = OPS.get(field);
    // A second operation in one request is left to proto-loader, whose object then has both.
    if (entry === undefined || (tag & 7) !== LEN || op !== undefined) return undefined;
    body = message(r.sub(), entry[1]);
    if (body === undefined) return undefined;
    op = entry[0];
  }
  if (op === undefined || body === undefined) return batch === undefined ? undefined : { id, batch };
  return { id, [op]: body, op, batch: batch ?? NO_BATCH };
}

const EMPTY = Buffer.alloc(0);
