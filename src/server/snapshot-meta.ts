/**
 * The self-description of a state-machine image (applied index, term, membership, address book),
 * as bytes: the header of a backup file and of the Snapshot RPC.
 */
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { logIndex } from '../util/brand.js';
import { decodeSnapshotMetaBytes, encodeSnapshotMeta } from '../raft/codec.js';
import type { Term } from '../util/brand.js';
import type { AppliedMeta } from './ports.js';

export function encodeAppliedMeta(m: AppliedMeta): Uint8Array {
  const raft = encodeSnapshotMeta({ index: m.index, term: m.term as Term, conf: m.conf });
  return new ByteWriter(raft.length + (m.extra?.length ?? 0) + 16)
    .bytes(raft)
    .bytes(m.extra ?? new Uint8Array(0))
    .finish();
}

export function decodeAppliedMeta(b: Uint8Array): AppliedMeta {
  const r = new ByteReader(b);
  const raft = decodeSnapshotMetaBytes(r.bytes());
  const extra = r.bytes();
  r.end();
  return { index: logIndex(raft.index), term: raft.term, conf: raft.conf, extra };
}
