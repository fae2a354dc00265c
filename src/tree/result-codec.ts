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

/** 2 added Stat.aclVersion; format-1 results (cached before the upgrade) still decode, with 0. */
const FORMAT = 2;
const FORMAT_NO_ACL = 1;

const TAG = COMMAND_TAG satisfies Record<CommandResult['type'], number>;

export function writeStat(w: ByteWriter, s: Stat): void {
  w.uvarint(s.createdRevision).uvarint(s.modifiedRevision).uvarint(s.childrenRevision);
  w.svarint(s.version).svarint(s.childrenVersion).svarint(s.createdMs).svarint(s.modifiedMs);
  w.u64(s.ephemeralOwner).uvarint(s.dataLength).uvarint(s.numChildren).uvarint(s.aclVersion);
}

export function readStatOf(r: ByteReader, format = FORMAT): Stat {
  const s = {
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
  return { ...s, aclVersion: format === FORMAT_NO_ACL ? 0 : r.uvarint() };
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
    case 'setAcl':
      writeStat(w, v.stat);
      return;
    case 'delete':
    case 'check':
    case 'closeSession':
    case 'addUser':
    case 'deleteUser':
    case 'setPassword':
    case 'grantRole':
    case 'revokeRole':
    case 'authEnable':
    case 'authDisable':
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
  if (format !== FORMAT && format !== FORMAT_NO_ACL) throw new DecodeError(`unknown result format ${format}`);
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
    out = ok(readResult(r, b.length, true, format));
  }
  r.end();
  return out;
}

function readCount(r: ByteReader, remaining: number): number {
  const n = r.uvarint();
  if (n > remaining) throw new DecodeError(`count ${n} exceeds the ${remaining} bytes left`);
  return n;
}

function readResult(r: ByteReader, total: number, topLevel: boolean, format: number): CommandResult {
  const readStat = (): Stat => readStatOf(r, format);
  const tag = r.u8();
  if (!topLevel && tag > TAG.check) throw new DecodeError(`result tag ${tag} inside multi`);
  switch (tag) {
    case TAG.create:
      return { type: 'create', path: r.string() as ZPath, stat: readStat() };
    case TAG.set:
      return { type: 'set', stat: readStat() };
    case TAG.delete:
      return { type: 'delete' };
    case TAG.check:
      return { type: 'check' };
    case TAG.multi: {
      const n = readCount(r, total - r.offset);
      const results: OpResult[] = [];
      for (let i = 0; i < n; i++) results.push(readResult(r, total, false, format) as OpResult);
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
    case TAG.setAcl:
      return { type: 'setAcl', stat: readStat() };
    case TAG.addUser:
      return { type: 'addUser' };
    case TAG.deleteUser:
      return { type: 'deleteUser' };
    case TAG.setPassword:
      return { type: 'setPassword' };
    case TAG.grantRole:
      return { type: 'grantRole' };
    case TAG.revokeRole:
      return { type: 'revokeRole' };
    case TAG.authEnable:
      return { type: 'authEnable' };
    case TAG.authDisable:
      return { type: 'authDisable' };
    default:
      throw new DecodeError(`unknown result tag ${tag}`);
  }
}
