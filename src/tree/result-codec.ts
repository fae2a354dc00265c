/**
 * Binary codec of command outcomes. Results are cached in the client table (and persisted with
 * it) and sent back to followers that forwarded a write, so they need a compact stable form.
 */
import { sessionId, type SessionId } from '../util/brand.js';
import { assertNever } from '../util/assert.js';
import { ByteReader, ByteWriter, DecodeError } from '../util/bytes.js';
import { err, ok } from '../util/result.js';
import { TREE_ERROR_CODES, type TreeError } from './errors.js';
import type { ZPath } from './path.js';
import type { CommandOutcome, CommandResult, OpResult } from './results.js';
import type { Stat } from './stat.js';
import { COMMAND_TAG } from './commands.js';

const FORMAT = 1;

const TAG = COMMAND_TAG satisfies Record<CommandResult['type'], number>;

export function writeStat(w: ByteWriter, s: Stat): void {
  w.uvarint(s.createdRevision).uvarint(s.modifiedRevision).uvarint(s.childrenRevision);
  w.svarint(s.version).svarint(s.childrenVersion).svarint(s.createdMs).svarint(s.modifiedMs);
  w.u64(s.ephemeralOwner).uvarint(s.dataLength).uvarint(s.numChildren);
}

export function readStat(r: ByteReader): Stat {
  return {
    createdRevision: r.uvarint(),
    modifiedRevision: r.uvarint(),
    childrenRevision: r.uvarint(),
    version: r.svarint(),
    childrenVersion: r.svarint(),
    createdMs: r.svarint(),
    modifiedMs: r.svarint(),
    ephemeralOwner: r.u64(),
    dataLength: r.uvarint(),
    numChildren: r.uvarint(),
  };
}

export function encodeResult(o: CommandOutcome): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(FORMAT);
  if (o.ok) {
    w.u8(0);
    writeResult(w, o.value);
  } else {
    const e = o.error;
    w.u8(1).u8(TREE_ERROR_CODES.indexOf(e.code)).string(e.message);
    if (e.path === undefined) w.u8(0);
    else w.u8(1).string(e.path);
    if (e.failedOp === undefined) w.u8(0);
    else w.u8(1).uvarint(e.failedOp);
  }
  return w.finish();
}

function writeResult(w: ByteWriter, v: CommandResult): void {
  w.u8(TAG[v.type]);
  switch (v.type) {
    case 'create':
      w.string(v.path);
      writeStat(w, v.stat);
      return;
    case 'set':
      writeStat(w, v.stat);
      return;
    case 'delete':
    case 'check':
    case 'closeSession':
      return;
    case 'multi':
      w.uvarint(v.results.length);
      for (const r of v.results) writeResult(w, r);
      return;
    case 'openSession':
      w.u64(v.sessionId).svarint(v.timeoutMs);
      return;
    case 'expireSessions':
      w.uvarint(v.expired.length);
      for (const id of v.expired) w.u64(id);
      return;
    case 'sweep':
      w.uvarint(v.deleted.length);
      for (const p of v.deleted) w.string(p);
      return;
    default:
      assertNever(v, 'result');
  }
}

export function decodeResult(b: Uint8Array): CommandOutcome {
  const r = new ByteReader(b);
  const format = r.u8();
  if (format !== FORMAT) throw new DecodeError(`unknown result format ${format}`);
  let out: CommandOutcome;
  if (r.bool()) {
    const ci = r.u8();
    const code = TREE_ERROR_CODES[ci];
    if (code === undefined) throw new DecodeError(`unknown tree error code ${ci}`);
    const message = r.string();
    const path = r.bool() ? r.string() : undefined;
    const failedOp = r.bool() ? r.uvarint() : undefined;
    const e: TreeError = {
      code,
      message,
      ...(path === undefined ? {} : { path }),
      ...(failedOp === undefined ? {} : { failedOp }),
    };
    out = err(e);
  } else {
    out = ok(readResult(r, b.length, true));
  }
  r.end();
  return out;
}

function readCount(r: ByteReader, remaining: number): number {
  const n = r.uvarint();
  if (n > remaining) throw new DecodeError(`count ${n} exceeds the ${remaining} bytes left`);
  return n;
}

function readResult(r: ByteReader, total: number, topLevel: boolean): CommandResult {
  const tag = r.u8();
  if (!topLevel && tag > TAG.check) throw new DecodeError(`result tag ${tag} inside multi`);
  switch (tag) {
    case TAG.create:
      return { type: 'create', path: r.string() as ZPath, stat: readStat(r) };
    case TAG.set:
      return { type: 'set', stat: readStat(r) };
    case TAG.delete:
      return { type: 'delete' };
    case TAG.check:
      return { type: 'check' };
    case TAG.multi: {
      const n = readCount(r, total - r.offset);
      const results: OpResult[] = [];
      for (let i = 0; i < n; i++) results.push(readResult(r, total, false) as OpResult);
      return { type: 'multi', results };
    }
    case TAG.openSession:
      return { type: 'openSession', sessionId: sessionId(r.u64()), timeoutMs: r.svarint() };
    case TAG.closeSession:
      return { type: 'closeSession' };
    case TAG.expireSessions: {
      const n = readCount(r, total - r.offset);
      const expired: SessionId[] = [];
      for (let i = 0; i < n; i++) expired.push(sessionId(r.u64()));
      return { type: 'expireSessions', expired };
    }
    case TAG.sweep: {
      const n = readCount(r, total - r.offset);
      const deleted: ZPath[] = [];
      for (let i = 0; i < n; i++) deleted.push(r.string() as ZPath);
      return { type: 'sweep', deleted };
    }
    default:
      throw new DecodeError(`unknown result tag ${tag}`);
  }
}
