/**
 * The session stream's common answers (create, get, set, delete, exists, errors, and packs of
 * them) encoded by hand. protobufjs serializes a plain object in two passes (`fromObject` into a
 * message, then `encode`), and every 64-bit Stat field goes through Long on the way: 1.8 µs per
 * write's answer in a micro-benchmark, 0.6 µs by hand.
 *
 * The objects are the handlers' own (convert.ts: snake_case, 64-bit values as numbers or decimal
 * strings). Anything else — another result, a value of an unexpected type — returns undefined
 * and goes through proto-loader's serializer as before. Fields at their default value are left
 * out, as proto3 allows (a reader cannot tell the difference), and so are absent ones, as
 * protobufjs's `fromObject` does.
 */
import { ProtoWriter, UNSUPPORTED, envelope, type Body } from '../util/proto-writer.js';

type Msg = Record<string, unknown>;

/** Stat's fields, from statToProto's object (also the watch events' encoder's). */
export function statBody(w: ProtoWriter, s: Msg): void {
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
const RESULTS: ReadonlyMap<string, readonly [number, Body]> = new Map([
  [
    'error',
    [
      2,
      (w: ProtoWriter, m: Msg) => {
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
      (w: ProtoWriter, m: Msg) => {
        w.string(1, m.path);
        w.message(2, m.stat, statBody);
      },
    ],
  ],
  [
    'get',
    [
      4,
      (w: ProtoWriter, m: Msg) => {
        w.bytes(1, m.data);
        w.message(2, m.stat, statBody);
        w.unsigned(3, m.revision);
      },
    ],
  ],
  ['set', [5, (w: ProtoWriter, m: Msg) => w.message(1, m.stat, statBody)]],
  [
    'delete',
    [
      6,
      (_w: ProtoWriter, m: Msg) => {
        if (Object.keys(m).length > 0) throw UNSUPPORTED;
      },
    ],
  ],
  [
    'exists',
    [
      7,
      (w: ProtoWriter, m: Msg) => {
        w.bool(1, m.exists);
        w.message(2, m.stat, statBody);
        w.unsigned(3, m.revision);
      },
    ],
  ],
]);

const writer = new ProtoWriter();

/** `m` as ClientResponse bytes, or undefined to let proto-loader serialize it. */
export function encodeClientResponse(m: Msg): Buffer | undefined {
  return writer.encode(m, (w, x) => envelope(w, x, RESULTS, 12));
}
