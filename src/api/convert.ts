/**
 * Proto messages ↔ domain values. Requests arrive from any language and any attacker: every
 * field is checked for type and range here, and commands are validated by the tree's own rules
 * before anything reaches Raft.
 */
import { sessionId } from '../util/brand.js';
import type {
  ClientHeader,
  Command,
  CreateCommand,
  DeleteCommand,
  MultiOp,
  SetCommand,
} from '../tree/commands.js';
import { createModeFromProto } from '../tree/commands.js';
import { ACL_SCHEMES, type Acl, type AclEntry, type AclScheme } from '../tree/acl.js';
import type { CommandResult, OpResult } from '../tree/results.js';
import type { Stat } from '../tree/stat.js';
import type { TreeEvent } from '../tree/events.js';
import { invalid } from './status.js';

const EMPTY = new Uint8Array(0);
const U64_MAX = (1n << 64n) - 1n;

type Msg = Record<string, unknown>;

function field(m: unknown, name: string): unknown {
  return m !== null && typeof m === 'object' ? (m as Msg)[name] : undefined;
}

export function str(m: unknown, name: string): string {
  const v = field(m, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`field ${name} must be a string`);
  return v;
}

export function bytes(m: unknown, name: string): Uint8Array {
  const v = field(m, name);
  if (v === undefined || v === null) return EMPTY;
  if (!(v instanceof Uint8Array)) throw invalid(`field ${name} must be bytes`);
  return v;
}

export function bool(m: unknown, name: string): boolean {
  const v = field(m, name);
  return v === true;
}

/** An int64/uint64 field that must fit a JavaScript safe integer. */
export function int(m: unknown, name: string): number {
  const v = field(m, name);
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n))
    throw invalid(
      `field ${name} is out of range: ${typeof v === 'string' ? v : typeof v} (must be below 2^53)`,
    );
  return n;
}

export function u64(m: unknown, name: string): bigint {
  const v = field(m, name);
  if (v === undefined || v === null || v === '') return 0n;
  try {
    const b = BigInt(v as string | number);
    if (b < 0n || b > U64_MAX) throw new RangeError();
    return b;
  } catch {
    throw invalid(
      `field ${name} must be an unsigned 64-bit integer: got ${typeof v === 'string' ? v : typeof v}`,
    );
  }
}

export function enumValue(m: unknown, name: string): number {
  const v = field(m, name);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`field ${name} must be an enum number`);
  return v;
}

export function message(m: unknown, name: string): unknown {
  return field(m, name);
}

export function header(req: unknown): ClientHeader | undefined {
  const h = field(req, 'header');
  if (h === undefined || h === null) return undefined;
  const clientId = str(h, 'client_id');
  if (clientId === '') return undefined;
  const seq = int(h, 'sequence');
  if (seq < 1) throw invalid('header.sequence must be >= 1 when header.client_id is set');
  return { clientId, seq, firstUnacked: int(h, 'first_unacked') };
}

export function createCommand(req: unknown): CreateCommand {
  const modeNum = enumValue(req, 'mode');
  const mode = createModeFromProto(modeNum);
  if (mode === undefined) throw invalid(`mode ${modeNum} is not a CreateMode (0..5)`);
  const acl = aclFromProto(req, 'acl');
  return {
    type: 'create',
    path: str(req, 'path'),
    data: bytes(req, 'data'),
    mode,
    sessionId: sessionId(u64(req, 'session_id')),
    ttlMs: int(req, 'ttl_ms'),
    createParents: bool(req, 'create_parents'),
    ...(acl.length === 0 ? {} : { acl }),
  };
}

/** A repeated ACL field; the tree validates the entries (schemes, ids, perms). */
export function aclFromProto(m: unknown, name: string): Acl {
  const v = field(m, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`field ${name} must be a list of ACL`);
  return v.map((e: unknown, i): AclEntry => {
    const scheme = str(e, 'scheme');
    if (!(ACL_SCHEMES as readonly string[]).includes(scheme))
      throw invalid(`${name}[${i}].scheme must be one of ${ACL_SCHEMES.join(', ')}: got '${scheme}'`);
    return { scheme: scheme as AclScheme, id: str(e, 'id'), perms: int(e, 'perms') };
  });
}

export function aclToProto(acl: Acl): Msg[] {
  return acl.map((e) => ({ scheme: e.scheme, id: e.id, perms: e.perms }));
}

export function setCommand(req: unknown): SetCommand {
  return {
    type: 'set',
    path: str(req, 'path'),
    data: bytes(req, 'data'),
    expectedVersion: int(req, 'expected_version'),
  };
}

export function deleteCommand(req: unknown): DeleteCommand {
  return {
    type: 'delete',
    path: str(req, 'path'),
    expectedVersion: int(req, 'expected_version'),
    recursive: bool(req, 'recursive'),
  };
}

export function multiCommand(req: unknown): Command {
  const ops = field(req, 'ops');
  if (!Array.isArray(ops)) throw invalid('field ops must be a list of Op');
  const out: MultiOp[] = ops.map((op: unknown, i) => {
    const which = field(op, 'op');
    switch (which) {
      case 'create':
        return createCommand(field(op, 'create'));
      case 'set':
        return setCommand(field(op, 'set'));
      case 'delete':
        return deleteCommand(field(op, 'delete'));
      case 'check':
        return {
          type: 'check',
          path: str(field(op, 'check'), 'path'),
          expectedVersion: int(field(op, 'check'), 'expected_version'),
        };
      default:
        throw invalid(`op ${i} sets none of create, set, delete or check`);
    }
  });
  return { type: 'multi', ops: out };
}

export function statToProto(s: Stat): Msg {
  return {
    created_revision: s.createdRevision,
    modified_revision: s.modifiedRevision,
    children_revision: s.childrenRevision,
    version: s.version,
    children_version: s.childrenVersion,
    created_ms: s.createdMs,
    modified_ms: s.modifiedMs,
    ephemeral_owner: s.ephemeralOwner.toString(),
    data_length: s.dataLength,
    num_children: s.numChildren,
    acl_version: s.aclVersion,
  };
}

export function opResultToProto(r: OpResult): Msg {
  switch (r.type) {
    case 'create':
      return { create: { path: r.path, stat: statToProto(r.stat) } };
    case 'set':
      return { set: { stat: statToProto(r.stat) } };
    case 'delete':
      return { delete: {} };
    case 'check':
      return { check: {} };
  }
}

/** The proto response for a successful write; `kind` names the RPC it answers. */
export function resultToProto(r: CommandResult): Msg {
  switch (r.type) {
    case 'create':
      return { path: r.path, stat: statToProto(r.stat) };
    case 'set':
    case 'setAcl':
      return { stat: statToProto(r.stat) };
    case 'delete':
    case 'check':
    case 'closeSession':
    case 'expireSessions':
    case 'sweep':
    case 'addUser':
    case 'deleteUser':
    case 'setPassword':
    case 'grantRole':
    case 'revokeRole':
    case 'authEnable':
    case 'authDisable':
      return {};
    case 'multi':
      return { results: r.results.map(opResultToProto) };
    case 'openSession':
      return { session_id: r.sessionId.toString(), timeout_ms: r.timeoutMs };
  }
}

const EVENT_TYPE = { created: 1, updated: 2, deleted: 3 } as const;

export function eventToProto(e: TreeEvent): Msg {
  return {
    type: EVENT_TYPE[e.type],
    path: e.path,
    data: e.data,
    stat: statToProto(e.stat),
    revision: e.revision,
  };
}
