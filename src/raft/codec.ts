/**
 * Binary codec for peer messages, entries and snapshot metadata. Decoding is the trust boundary:
 * every field is validated here so the core can trust what it steps in, and any malformed input
 * (truncated, oversized, out of range, trailing bytes) throws DecodeError and nothing else.
 * Entry data is returned as a view into the input buffer (no copies on the hot path).
 */
import { ByteReader, ByteWriter, DecodeError } from '../util/bytes.js';
import type { LogIndex, NodeId, Term } from '../util/brand.js';
import { EntryType } from './types.js';
import type { ConfState, Entry, Snapshot, SnapshotMeta } from './types.js';
import { MESSAGE_TYPES } from './messages.js';
import type { Message, MessageType } from './messages.js';

/** Bumped only on incompatible layout changes; members of different versions meet in upgrades. */
const FORMAT_VERSION = 1;

const TAG: Readonly<Record<MessageType, number>> = Object.fromEntries(
  MESSAGE_TYPES.map((t, i) => [t, i + 1]),
) as Record<MessageType, number>;

function writeEntry(w: ByteWriter, e: Entry): void {
  w.uvarint(e.term).uvarint(e.index).u8(e.type).bytes(e.data);
}

function writeConf(w: ByteWriter, c: ConfState): void {
  w.uvarint(c.voters.length);
  for (const v of c.voters) w.uvarint(v);
  w.uvarint(c.learners.length);
  for (const l of c.learners) w.uvarint(l);
}

function writeSnapMeta(w: ByteWriter, m: SnapshotMeta): void {
  w.uvarint(m.index).uvarint(m.term);
  writeConf(w, m.conf);
}

/** Rough encoded size, so the writer allocates once for big app messages. */
function sizeHint(m: Message): number {
  let n = 64;
  if (m.type === 'app') for (const e of m.entries) n += e.data.length + 24;
  else if (m.type === 'snap') n += m.snapshot.data.length + 16 * (m.snapshot.meta.conf.voters.length + 4);
  else if (m.type === 'readIndex' || m.type === 'readIndexResp') n += m.ctx.length;
  return n;
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new ByteWriter(sizeHint(m));
  w.u8(FORMAT_VERSION).u8(TAG[m.type]).uvarint(m.from).uvarint(m.to).uvarint(m.term);
  switch (m.type) {
    case 'app':
      w.uvarint(m.index).uvarint(m.logTerm).uvarint(m.commit).uvarint(m.entries.length);
      for (const e of m.entries) writeEntry(w, e);
      // Written only when set, so a member of the previous version still reads every other append.
      if (m.commitOnly && m.entries.length === 0) w.bool(true);
      break;
    case 'appResp':
      w.uvarint(m.index).bool(m.reject).uvarint(m.rejectHint).uvarint(m.logTerm);
      break;
    case 'vote':
    case 'preVote':
      w.uvarint(m.index).uvarint(m.logTerm).bool(m.transfer);
      break;
    case 'voteResp':
    case 'preVoteResp':
      w.bool(m.reject);
      break;
    case 'heartbeat':
      w.uvarint(m.commit).uvarint(m.readSeq);
      break;
    case 'heartbeatResp':
      w.uvarint(m.readSeq);
      break;
    case 'snap':
      writeSnapMeta(w, m.snapshot.meta);
      w.bytes(m.snapshot.data);
      break;
    case 'readIndex':
      w.bytes(m.ctx);
      break;
    case 'readIndexResp':
      w.uvarint(m.index).bytes(m.ctx);
      break;
    case 'timeoutNow':
      break;
    default:
      return assertNeverMsg(m);
  }
  return w.finish();
}

function assertNeverMsg(m: never): never {
  throw new Error(`unknown message ${JSON.stringify(m)}`);
}

/** A reader that knows how many bytes remain, to bound counts before allocating. */
class Reader {
  readonly r: ByteReader;
  constructor(private readonly buf: Uint8Array) {
    this.r = new ByteReader(buf);
  }
  remaining(): number {
    return this.buf.length - this.r.offset;
  }
  /** A count of items each taking at least `minBytes` bytes: bounded by the input size. */
  count(minBytes: number, what: string): number {
    const n = this.r.uvarint();
    if (n * minBytes > this.remaining()) throw new DecodeError(`${what} count ${n} exceeds input`);
    return n;
  }
  nodeId(what: string): NodeId {
    const v = this.r.uvarint();
    if (v === 0) throw new DecodeError(`${what}: node id 0`);
    return v as NodeId;
  }
  term(): Term {
    return this.r.uvarint() as Term;
  }
  index(): LogIndex {
    return this.r.uvarint() as LogIndex;
  }
}

function readEntry(rd: Reader): Entry {
  const term = rd.term();
  const index = rd.index();
  const t = rd.r.u8();
  if (t !== EntryType.Normal && t !== EntryType.ConfChange) throw new DecodeError(`bad entry type ${t}`);
  const data = rd.r.bytes();
  return { term, index, type: t, data };
}

function readConf(rd: Reader): ConfState {
  const nv = rd.count(1, 'voters');
  const voters: NodeId[] = [];
  for (let i = 0; i < nv; i++) voters.push(rd.nodeId('voter'));
  const nl = rd.count(1, 'learners');
  const learners: NodeId[] = [];
  for (let i = 0; i < nl; i++) learners.push(rd.nodeId('learner'));
  const all = new Set<number>([...voters, ...learners]);
  if (all.size !== voters.length + learners.length) throw new DecodeError('duplicate member in conf');
  return { voters, learners };
}

function decodeSnapshotMeta(rd: Reader): SnapshotMeta {
  const index = rd.index();
  const term = rd.term();
  const conf = readConf(rd);
  if ((index === 0) !== (term === 0)) throw new DecodeError('snapshot index/term mismatch');
  return { index, term, conf };
}

/** Decodes one peer message; throws DecodeError (only) on any malformed input. */
export function decodeMessage(b: Uint8Array): Message {
  const rd = new Reader(b);
  const r = rd.r;
  const version = r.u8();
  if (version !== FORMAT_VERSION) throw new DecodeError(`unsupported message format ${version}`);
  const tag = r.u8();
  const type = MESSAGE_TYPES[tag - 1];
  if (type === undefined) throw new DecodeError(`unknown message tag ${tag}`);
  const from = rd.nodeId('from');
  const to = rd.nodeId('to');
  const term = rd.term();
  let m: Message;
  switch (type) {
    case 'app': {
      const index = rd.index();
      const logTerm = rd.term();
      const commit = rd.index();
      const n = rd.count(4, 'entries');
      const entries: Entry[] = [];
      let prevTerm = logTerm;
      for (let i = 0; i < n; i++) {
        const e = readEntry(rd);
        // A leader only ever sends consecutive entries after (index, logTerm), with terms that never
        // decrease and never exceed its own term (Log Matching, §5.3).
        if (e.index !== index + 1 + i) throw new DecodeError(`entry index ${e.index} not consecutive`);
        if (e.term < prevTerm || e.term > term) throw new DecodeError(`entry term ${e.term} out of order`);
        prevTerm = e.term;
        entries.push(e);
      }
      if (logTerm > term) throw new DecodeError('logTerm beyond message term');
      // The flag is present only when set (see encodeMessage): a written false is not canonical.
      const commitOnly = rd.remaining() > 0;
      if (commitOnly && !r.bool()) throw new DecodeError('commit-only flag present but false');
      if (commitOnly && n > 0) throw new DecodeError('a commit-only append carries entries');
      m = { type, from, to, term, index, logTerm, commit, entries, commitOnly };
      break;
    }
    case 'appResp': {
      const index = rd.index();
      const reject = r.bool();
      const rejectHint = rd.index();
      const logTerm = rd.term();
      m = { type, from, to, term, index, reject, rejectHint, logTerm };
      break;
    }
    case 'vote':
    case 'preVote': {
      const index = rd.index();
      const logTerm = rd.term();
      const transfer = r.bool();
      if (logTerm > term) throw new DecodeError('candidate logTerm beyond its term');
      m = { type, from, to, term, index, logTerm, transfer };
      break;
    }
    case 'voteResp':
    case 'preVoteResp':
      m = { type, from, to, term, reject: r.bool() };
      break;
    case 'heartbeat': {
      const commit = rd.index();
      m = { type, from, to, term, commit, readSeq: r.uvarint() };
      break;
    }
    case 'heartbeatResp':
      m = { type, from, to, term, readSeq: r.uvarint() };
      break;
    case 'snap': {
      const meta = decodeSnapshotMeta(rd);
      if (meta.index === 0) throw new DecodeError('empty snapshot');
      const data = r.bytes();
      m = { type, from, to, term, snapshot: { meta, data } };
      break;
    }
    case 'readIndex':
      m = { type, from, to, term, ctx: r.bytes() };
      break;
    case 'readIndexResp': {
      const index = rd.index();
      m = { type, from, to, term, index, ctx: r.bytes() };
      break;
    }
    case 'timeoutNow':
      m = { type, from, to, term };
      break;
    default:
      return assertNeverMsg(type);
  }
  r.end();
  if (term === 0) throw new DecodeError('message term 0');
  return m;
}

/** Snapshot metadata alone (the transport sends it as the header of a streamed snapshot). */
export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const w = new ByteWriter(32 + 8 * (meta.conf.voters.length + meta.conf.learners.length));
  w.u8(FORMAT_VERSION);
  writeSnapMeta(w, meta);
  return w.finish();
}

export function decodeSnapshotMetaBytes(b: Uint8Array): SnapshotMeta {
  const rd = new Reader(b);
  const v = rd.r.u8();
  if (v !== FORMAT_VERSION) throw new DecodeError(`unsupported snapshot meta format ${v}`);
  const meta = decodeSnapshotMeta(rd);
  rd.r.end();
  return meta;
}

/** Entries as stored by a log store: one entry per record. */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new ByteWriter(e.data.length + 24);
  writeEntry(w, e);
  return w.finish();
}

export function decodeEntry(b: Uint8Array): Entry {
  const rd = new Reader(b);
  const e = readEntry(rd);
  rd.r.end();
  return e;
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new ByteWriter(s.data.length + 64);
  w.u8(FORMAT_VERSION);
  writeSnapMeta(w, s.meta);
  w.bytes(s.data);
  return w.finish();
}

export function decodeSnapshot(b: Uint8Array): Snapshot {
  const rd = new Reader(b);
  const v = rd.r.u8();
  if (v !== FORMAT_VERSION) throw new DecodeError(`unsupported snapshot format ${v}`);
  const meta = decodeSnapshotMeta(rd);
  const data = rd.r.bytes();
  rd.r.end();
  return { meta, data };
}

export { describeMessage, describeReady } from './describe.js';
