/**
 * The session stream's answers (`ClientResponse`) decoded by hand for the results a client gets
 * most — create, get, set, delete, exists and errors — into the objects @grpc/proto-loader builds
 * (the `result` discriminator included). Each carries a Stat whose eight 64-bit fields cost
 * protobufjs's `toObject` a Long `toString` apiece, the largest share of a client's decoding.
 * Any other result, or a message that sets more than one, goes to proto-loader's own decoder.
 */
import { Reader } from '../util/proto-reader.js';
import { errorStatus, stat } from './watch-decode.js';
import type {
  WireClientResponse,
  WireCreateResponse,
  WireExistsResponse,
  WireGetResponse,
  WireSetResponse,
} from './wire.js';

type Decode = (buf: Buffer) => unknown;

function create(r: Reader): WireCreateResponse {
  const m: WireCreateResponse = { path: '', stat: null };
  while (r.more) {
    const t = r.tag();
    if (t === ((1 << 3) | 2)) m.path = r.string();
    else if (t === ((2 << 3) | 2)) m.stat = stat(r.sub());
    else r.skip(t & 7);
  }
  return m;
}

function get(r: Reader): WireGetResponse {
  const m: WireGetResponse = { data: Buffer.alloc(0), stat: null, revision: '0' };
  while (r.more) {
    const t = r.tag();
    if (t === ((1 << 3) | 2)) m.data = r.bytes();
    else if (t === ((2 << 3) | 2)) m.stat = stat(r.sub());
    else if (t === ((3 << 3) | 0)) m.revision = r.uint64();
    else r.skip(t & 7);
  }
  return m;
}

function set(r: Reader): WireSetResponse {
  const m: WireSetResponse = { stat: null };
  while (r.more) {
    const t = r.tag();
    if (t === ((1 << 3) | 2)) m.stat = stat(r.sub());
    else r.skip(t & 7);
  }
  return m;
}

function exists(r: Reader): WireExistsResponse {
  const m: WireExistsResponse = { exists: false, stat: null, revision: '0' };
  while (r.more) {
    const t = r.tag();
    if (t === ((1 << 3) | 0)) m.exists = r.bool();
    else if (t === ((2 << 3) | 2)) m.stat = stat(r.sub());
    else if (t === ((3 << 3) | 0)) m.revision = r.uint64();
    else r.skip(t & 7);
  }
  return m;
}

function empty(r: Reader): Record<string, never> {
  while (r.more) r.skip(r.tag() & 7);
  return {};
}

/** The oneof members decoded here, by field number. */
const RESULTS: Record<number, readonly [string, (r: Reader) => unknown]> = {
  2: ['error', errorStatus],
  3: ['create', create],
  4: ['get', get],
  5: ['set', set],
  6: ['delete', empty],
  7: ['exists', exists],
};

/** `fallback`: proto-loader's deserializer of ClientResponse, for everything not handled here. */
export function decodeClientResponse(buf: Buffer, fallback: Decode): WireClientResponse {
  return response(new Reader(buf, 0, buf.length), false) ?? (fallback(buf) as WireClientResponse);
}

/** What proto-loader sets `batch` to when there is none; shared, never written. */
const NO_BATCH: readonly WireClientResponse[] = Object.freeze([]);

/** undefined: proto-loader decodes the whole message instead. */
function response(r: Reader, inBatch: boolean): WireClientResponse | undefined {
  let id = '0';
  let result: [string, unknown] | undefined;
  let batch: WireClientResponse[] | undefined;
  while (r.more) {
    const t = r.tag();
    if (t === ((1 << 3) | 0)) {
      id = r.uint64();
      continue;
    }
    if (t === ((12 << 3) | 2) && !inBatch) {
      const inner = response(r.sub(), true);
      if (inner === undefined) return undefined;
      (batch ??= []).push(inner);
      continue;
    }
    const known = (t & 7) === 2 ? RESULTS[t >>> 3] : undefined;
    // Another result, or a second one (the last would win): proto-loader decides.
    if (known === undefined || result !== undefined) {
      if (t >>> 3 <= 12) return undefined;
      r.skip(t & 7);
      continue;
    }
    result = [known[0], known[1](r.sub())];
  }
  const m = (
    result === undefined ? { id } : { id, [result[0]]: result[1], result: result[0] }
  ) as WireClientResponse;
  m.batch = batch ?? NO_BATCH;
  return m;
}
