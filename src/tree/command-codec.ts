/**
 * Binary codec of Envelope, the payload of a Raft log entry. No JSON; decoded byte strings are
 * views into the input (no copies: the tree copies payloads it keeps). Decoding untrusted or
 * corrupt bytes throws DecodeError and nothing else.
 */
import { sessionId, type SessionId } from '../util/brand.js';
import { assertNever } from '../util/assert.js';
import { ByteReader, ByteWriter, DecodeError } from '../util/bytes.js';
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

const FORMAT = 1;

const TAG = COMMAND_TAG satisfies Record<Command['type'], number>;

export function encodeEnvelope(e: Envelope): Uint8Array {
  const w = new ByteWriter(64 + commandSizeHint(e.command));
  w.u8(FORMAT);
  w.uvarint(e.timeMs);
  if (e.client === undefined) {
    w.u8(0);
  } else {
    w.u8(1).string(e.client.clientId).uvarint(e.client.seq).uvarint(e.client.firstUnacked);
  }
  writeCommand(w, e.command);
  return w.finish();
}

function commandSizeHint(c: Command): number {
  if (c.type === 'create' || c.type === 'set') return c.path.length * 3 + c.data.length;
  if (c.type === 'multi') return c.ops.reduce((n, op) => n + 16 + commandSizeHint(op), 0);
  return 64;
}

function writeCommand(w: ByteWriter, c: Command): void {
  w.u8(TAG[c.type]);
  switch (c.type) {
    case 'create':
      w.string(c.path).bytes(c.data).u8(CREATE_MODES.indexOf(c.mode)).u64(c.sessionId);
      w.svarint(c.ttlMs).bool(c.createParents);
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
      for (const op of c.ops) writeCommand(w, op);
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
  if (format !== FORMAT) throw new DecodeError(`unknown envelope format ${format}`);
  const timeMs = r.uvarint();
  const hasClient = r.bool();
  let client: ClientHeader | undefined;
  if (hasClient) {
    client = { clientId: r.string(), seq: r.uvarint(), firstUnacked: r.uvarint() };
  }
  const command = readCommand(r, b.length, true);
  r.end();
  return client === undefined ? { timeMs, command } : { timeMs, client, command };
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

function readCommand(r: ByteReader, total: number, topLevel: boolean): Command {
  const tag = r.u8();
  switch (tag) {
    case TAG.create:
      return {
        type: 'create',
        path: r.string(),
        data: r.bytes(),
        mode: readMode(r),
        sessionId: sessionId(r.u64()),
        ttlMs: r.svarint(),
        createParents: r.bool(),
      };
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
      for (let i = 0; i < n; i++) ops.push(readCommand(r, total, false) as MultiOp);
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
