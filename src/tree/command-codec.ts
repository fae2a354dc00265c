/**
 * Binary codec of Envelope, the payload of a Raft log entry. No JSON; decoded byte strings are
 * views into the input (no copies: the tree copies payloads it keeps). Decoding untrusted or
 * corrupt bytes throws DecodeError and nothing else.
 */
import { sessionId, type SessionId } from '../util/brand.js';
import { assertNever } from '../util/assert.js';
import { ByteReader, ByteWriter, DecodeError } from '../util/bytes.js';
import { readAcl, writeAcl } from './acl.js';
import type { Credential } from './auth-table.js';
import {
  CREATE_MODES,
  type ClientHeader,
  type Command,
  type CreateMode,
  type Envelope,
  type MultiOp,
  type SweepTarget,
  COMMAND_TAG,
} from './commands.js';

/**
 * Format 1 is the original layout. Format 2 adds the caller's identity after the client header
 * and an optional ACL on every create; it is written only when one of them is present, so with
 * auth disabled and no ACLs the log stays byte-for-byte format 1 (and as cheap as before).
 */
const FORMAT = 1;
const FORMAT_AUTH = 2;

const TAG = COMMAND_TAG satisfies Record<Command['type'], number>;

export function encodeEnvelope(e: Envelope): Uint8Array {
  const w = new ByteWriter(64 + commandSizeHint(e.command));
  const extended = e.identity !== undefined || hasCreateAcl(e.command);
  w.u8(extended ? FORMAT_AUTH : FORMAT);
  w.uvarint(e.timeMs);
  if (e.client === undefined) {
    w.u8(0);
  } else {
    w.u8(1).string(e.client.clientId).uvarint(e.client.seq).uvarint(e.client.firstUnacked);
  }
  if (extended) {
    if (e.identity === undefined) w.u8(0);
    else {
      w.u8(1).uvarint(e.identity.length);
      for (const p of e.identity) w.string(p);
    }
  }
  writeCommand(w, e.command, extended);
  return w.finish();
}

function hasCreateAcl(c: Command): boolean {
  if (c.type === 'create') return c.acl !== undefined;
  if (c.type === 'multi') return c.ops.some((op) => op.type === 'create' && op.acl !== undefined);
  return false;
}

function writeCredential(w: ByteWriter, c: Credential): void {
  w.bytes(c.salt).bytes(c.hash).uvarint(c.n).uvarint(c.r).uvarint(c.p);
}

function readCredential(r: ByteReader): Credential {
  return { salt: r.bytes(), hash: r.bytes(), n: r.uvarint(), r: r.uvarint(), p: r.uvarint() };
}

function readStrings(r: ByteReader, total: number): string[] {
  const n = readCount(r, total - r.offset);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string());
  return out;
}

function commandSizeHint(c: Command): number {
  if (c.type === 'create' || c.type === 'set') return c.path.length * 3 + c.data.length;
  if (c.type === 'multi') return c.ops.reduce((n, op) => n + 16 + commandSizeHint(op), 0);
  return 64;
}

function writeCommand(w: ByteWriter, c: Command, extended: boolean): void {
  w.u8(TAG[c.type]);
  switch (c.type) {
    case 'create':
      w.string(c.path).bytes(c.data).u8(CREATE_MODES.indexOf(c.mode)).u64(c.sessionId);
      w.svarint(c.ttlMs).bool(c.createParents);
      if (extended) {
        if (c.acl === undefined) w.u8(0);
        else writeAcl(w.u8(1), c.acl);
      }
      return;
    case 'setAcl':
      w.string(c.path).svarint(c.expectedAclVersion);
      writeAcl(w, c.acl);
      return;
    case 'addUser':
      w.string(c.name);
      writeCredential(w, c.credential);
      w.uvarint(c.roles.length);
      for (const role of c.roles) w.string(role);
      return;
    case 'deleteUser':
      w.string(c.name);
      return;
    case 'setPassword':
      w.string(c.name);
      writeCredential(w, c.credential);
      return;
    case 'grantRole':
    case 'revokeRole':
      w.string(c.name).string(c.role);
      return;
    case 'authEnable':
      w.bytes(c.secret);
      return;
    case 'authDisable':
      return;
    case 'set':
      w.string(c.path).bytes(c.data).svarint(c.expectedVersion);
      return;
    case 'delete':
      w.string(c.path).svarint(c.expectedVersion).bool(c.recursive);
      return;
    case 'check':
      w.string(c.path).svarint(c.expectedVersion);
      return;
    case 'multi':
      w.uvarint(c.ops.length);
      for (const op of c.ops) writeCommand(w, op, extended);
      return;
    case 'openSession':
      w.svarint(c.timeoutMs);
      return;
    case 'closeSession':
      w.u64(c.sessionId);
      return;
    case 'expireSessions':
      w.uvarint(c.sessionIds.length);
      for (const id of c.sessionIds) w.u64(id);
      return;
    case 'sweep':
      w.uvarint(c.targets.length);
      for (const t of c.targets) {
        w.string(t.path).svarint(t.expectedVersion);
        if (t.expectedChildrenVersion === undefined) w.u8(0);
        else w.u8(1).svarint(t.expectedChildrenVersion);
      }
      return;
    default:
      assertNever(c, 'command');
  }
}

export function decodeEnvelope(b: Uint8Array): Envelope {
  const r = new ByteReader(b);
  const format = r.u8();
  if (format !== FORMAT && format !== FORMAT_AUTH) throw new DecodeError(`unknown envelope format ${format}`);
  const extended = format === FORMAT_AUTH;
  const timeMs = r.uvarint();
  const hasClient = r.bool();
  let client: ClientHeader | undefined;
  if (hasClient) {
    client = { clientId: r.string(), seq: r.uvarint(), firstUnacked: r.uvarint() };
  }
  const identity = extended && r.bool() ? readStrings(r, b.length) : undefined;
  const command = readCommand(r, b.length, true, extended);
  r.end();
  return {
    timeMs,
    ...(client === undefined ? {} : { client }),
    ...(identity === undefined ? {} : { identity }),
    command,
  };
}

/** A count must be plausible given the bytes left (each item takes at least one byte). */
function readCount(r: ByteReader, remaining: number): number {
  const n = r.uvarint();
  if (n > remaining) throw new DecodeError(`count ${n} exceeds the ${remaining} bytes left`);
  return n;
}

function readMode(r: ByteReader): CreateMode {
  const m = r.u8();
  const mode = CREATE_MODES[m];
  if (mode === undefined) throw new DecodeError(`unknown create mode ${m}`);
  return mode;
}

function readCommand(r: ByteReader, total: number, topLevel: boolean, extended: boolean): Command {
  const tag = r.u8();
  switch (tag) {
    case TAG.create: {
      const c = {
        type: 'create' as const,
        path: r.string(),
        data: r.bytes(),
        mode: readMode(r),
        sessionId: sessionId(r.u64()),
        ttlMs: r.svarint(),
        createParents: r.bool(),
      };
      return extended && r.bool() ? { ...c, acl: readAcl(r, total - r.offset) } : c;
    }
    case TAG.setAcl: {
      if (!topLevel) throw new DecodeError('setAcl inside multi');
      const path = r.string();
      const expectedAclVersion = r.svarint();
      return { type: 'setAcl', path, expectedAclVersion, acl: readAcl(r, total - r.offset) };
    }
    case TAG.addUser: {
      if (!topLevel) throw new DecodeError('addUser inside multi');
      const name = r.string();
      const credential = readCredential(r);
      return { type: 'addUser', name, credential, roles: readStrings(r, total) };
    }
    case TAG.deleteUser:
      if (!topLevel) throw new DecodeError('deleteUser inside multi');
      return { type: 'deleteUser', name: r.string() };
    case TAG.setPassword:
      if (!topLevel) throw new DecodeError('setPassword inside multi');
      return { type: 'setPassword', name: r.string(), credential: readCredential(r) };
    case TAG.grantRole:
    case TAG.revokeRole:
      if (!topLevel) throw new DecodeError('role change inside multi');
      return { type: tag === TAG.grantRole ? 'grantRole' : 'revokeRole', name: r.string(), role: r.string() };
    case TAG.authEnable:
      if (!topLevel) throw new DecodeError('authEnable inside multi');
      return { type: 'authEnable', secret: r.bytes() };
    case TAG.authDisable:
      if (!topLevel) throw new DecodeError('authDisable inside multi');
      return { type: 'authDisable' };
    case TAG.set:
      return { type: 'set', path: r.string(), data: r.bytes(), expectedVersion: r.svarint() };
    case TAG.delete:
      return { type: 'delete', path: r.string(), expectedVersion: r.svarint(), recursive: r.bool() };
    case TAG.check:
      return { type: 'check', path: r.string(), expectedVersion: r.svarint() };
    case TAG.multi: {
      if (!topLevel) throw new DecodeError('nested multi');
      const n = readCount(r, total - r.offset);
      const ops: MultiOp[] = [];
      for (let i = 0; i < n; i++) ops.push(readCommand(r, total, false, extended) as MultiOp);
      return { type: 'multi', ops };
    }
    case TAG.openSession:
      if (!topLevel) throw new DecodeError('openSession inside multi');
      return { type: 'openSession', timeoutMs: r.svarint() };
    case TAG.closeSession:
      if (!topLevel) throw new DecodeError('closeSession inside multi');
      return { type: 'closeSession', sessionId: sessionId(r.u64()) };
    case TAG.expireSessions: {
      if (!topLevel) throw new DecodeError('expireSessions inside multi');
      const n = readCount(r, total - r.offset);
      const ids: SessionId[] = [];
      for (let i = 0; i < n; i++) ids.push(sessionId(r.u64()));
      return { type: 'expireSessions', sessionIds: ids };
    }
    case TAG.sweep: {
      if (!topLevel) throw new DecodeError('sweep inside multi');
      const n = readCount(r, total - r.offset);
      const targets: SweepTarget[] = [];
      for (let i = 0; i < n; i++) {
        const path = r.string();
        const expectedVersion = r.svarint();
        targets.push(
          r.bool()
            ? { path, expectedVersion, expectedChildrenVersion: r.svarint() }
            : { path, expectedVersion },
        );
      }
      return { type: 'sweep', targets };
    }
    default:
      throw new DecodeError(`unknown command tag ${tag}`);
  }
}
