/**
 * Who the members are and where they listen. Replicated: initial members come from the
 * --initial-cluster flag, later ones from the context of the ConfChange that added them, and the
 * book is persisted beside the applied index (AppliedMeta.extra) so snapshots carry it.
 */
import type { NodeId } from '../util/brand.js';
import { nodeId } from '../util/brand.js';
import { ByteReader, ByteWriter } from '../util/bytes.js';

export interface MemberInfo {
  readonly id: NodeId;
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
}

export function encodeMemberInfo(m: MemberInfo): Uint8Array {
  return new ByteWriter(64).uvarint(m.id).string(m.name).string(m.peerUrl).string(m.clientUrl).finish();
}

export function decodeMemberInfo(b: Uint8Array): MemberInfo {
  const r = new ByteReader(b);
  const m = { id: nodeId(r.uvarint()), name: r.string(), peerUrl: r.string(), clientUrl: r.string() };
  r.end();
  return m;
}

export function encodeAddressBook(book: ReadonlyMap<NodeId, MemberInfo>): Uint8Array {
  const w = new ByteWriter(256).uvarint(book.size);
  for (const m of book.values()) w.bytes(encodeMemberInfo(m));
  return w.finish();
}

export function decodeAddressBook(b: Uint8Array | undefined): Map<NodeId, MemberInfo> {
  const book = new Map<NodeId, MemberInfo>();
  if (!b || b.length === 0) return book;
  const r = new ByteReader(b);
  const n = r.uvarint();
  for (let i = 0; i < n; i++) {
    const m = decodeMemberInfo(r.bytes());
    book.set(m.id, m);
  }
  r.end();
  return book;
}
