/**
 * Binary payloads a follower forwards to the leader over the peer channel (no JSON on the
 * write path). Kinds: 'write' (a batch of encoded envelopes, answered per item), 'touch'
 * (session keep-alives), 'admin' (membership and leadership operations).
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import type { MemberErrorCode } from './errors.js';
import { MemberError } from './errors.js';

export const FORWARD_WRITE = 'write';
export const FORWARD_TOUCH = 'touch';
export const FORWARD_ADMIN = 'admin';

export function encodeWriteBatch(envelopes: readonly Uint8Array[]): Uint8Array {
  let size = 8;
  for (const e of envelopes) size += e.length + 5;
  const w = new ByteWriter(size).uvarint(envelopes.length);
  for (const e of envelopes) w.bytes(e);
  return w.finish();
}

export function decodeWriteBatch(b: Uint8Array): Uint8Array[] {
  const r = new ByteReader(b);
  const n = r.uvarint();
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(r.bytes());
  r.end();
  return out;
}

/** One forwarded write's answer: applied (with its encoded tree result) or a member error. */
export type WriteItemResult =
  | { readonly ok: true; readonly revision: number; readonly result: Uint8Array }
  | { readonly ok: false; readonly error: MemberError };

const CODES: readonly MemberErrorCode[] = [
  'invalidArgument',
  'unavailable',
  'notLeader',
  'outcomeUnknown',
  'deadlineExceeded',
  'resourceExhausted',
  'notFound',
  'failedPrecondition',
  'alreadyExists',
  'outOfRange',
  'cancelled',
  'internal',
];

export function encodeMemberError(w: ByteWriter, e: MemberError): void {
  w.u8(CODES.indexOf(e.code)).string(e.message).uvarint(e.leaderHint);
}

export function decodeMemberError(r: ByteReader): MemberError {
  const code = CODES[r.u8()] ?? 'internal';
  const message = r.string();
  const leaderHint = r.uvarint();
  return new MemberError(code, message, { leaderHint });
}

export function encodeWriteResults(items: readonly WriteItemResult[]): Uint8Array {
  const w = new ByteWriter(64 * items.length + 8).uvarint(items.length);
  for (const it of items) {
    if (it.ok) w.u8(0).uvarint(it.revision).bytes(it.result);
    else {
      w.u8(1);
      encodeMemberError(w, it.error);
    }
  }
  return w.finish();
}

export function decodeWriteResults(b: Uint8Array): WriteItemResult[] {
  const r = new ByteReader(b);
  const n = r.uvarint();
  const out: WriteItemResult[] = [];
  for (let i = 0; i < n; i++) {
    if (r.u8() === 0) out.push({ ok: true, revision: r.uvarint(), result: r.bytes() });
    else out.push({ ok: false, error: decodeMemberError(r) });
  }
  r.end();
  return out;
}

export function encodeSessionIds(ids: readonly bigint[]): Uint8Array {
  const w = new ByteWriter(8 * ids.length + 4).uvarint(ids.length);
  for (const id of ids) w.u64(id);
  return w.finish();
}

export function decodeSessionIds(b: Uint8Array): bigint[] {
  const r = new ByteReader(b);
  const n = r.uvarint();
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(r.u64());
  r.end();
  return out;
}

export type AdminOp =
  | {
      readonly type: 'addMember';
      readonly id: number;
      readonly name: string;
      readonly peerUrl: string;
      readonly clientUrl: string;
      readonly asLearner: boolean;
    }
  | { readonly type: 'promoteMember'; readonly id: number }
  | { readonly type: 'removeMember'; readonly id: number }
  | { readonly type: 'transferLeader'; readonly target: number };

export function encodeAdminOp(op: AdminOp): Uint8Array {
  const w = new ByteWriter(64);
  switch (op.type) {
    case 'addMember':
      return w
        .u8(1)
        .uvarint(op.id)
        .string(op.name)
        .string(op.peerUrl)
        .string(op.clientUrl)
        .bool(op.asLearner)
        .finish();
    case 'promoteMember':
      return w.u8(2).uvarint(op.id).finish();
    case 'removeMember':
      return w.u8(3).uvarint(op.id).finish();
    case 'transferLeader':
      return w.u8(4).uvarint(op.target).finish();
  }
}

export function decodeAdminOp(b: Uint8Array): AdminOp {
  const r = new ByteReader(b);
  const t = r.u8();
  let op: AdminOp;
  switch (t) {
    case 1:
      op = {
        type: 'addMember',
        id: r.uvarint(),
        name: r.string(),
        peerUrl: r.string(),
        clientUrl: r.string(),
        asLearner: r.bool(),
      };
      break;
    case 2:
      op = { type: 'promoteMember', id: r.uvarint() };
      break;
    case 3:
      op = { type: 'removeMember', id: r.uvarint() };
      break;
    case 4:
      op = { type: 'transferLeader', target: r.uvarint() };
      break;
    default:
      throw new MemberError('invalidArgument', `unknown admin operation ${t}`);
  }
  r.end();
  return op;
}
