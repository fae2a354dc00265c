/** Wire ↔ domain conversion. The only code that knows the proto-loader representation. */
import { InvalidArgumentError } from './errors.js';
import type {
  AclEntry,
  Consistency,
  CreateMode,
  Data,
  EventType,
  Member,
  MemberStatus,
  Op,
  OpResult,
  Stat,
  WatchEvent,
  WatchScope,
} from './types.js';
import type {
  WireAcl,
  WireConsistency,
  WireCreateMode,
  WireCreateRequest,
  WireHeader,
  WireEventType,
  WireMember,
  WireOp,
  WireOpResult,
  WireStat,
  WireStatusResponse,
  WireWatchEvent,
  WireWatchScope,
} from './wire.js';
import { assertNever } from '../util/assert.js';
import type { RequestHeaderValue } from './sequencer.js';

/** uint64/int64 decimal string → number. Values past 2^53 would lose precision: refuse them. */
export function toNum(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`64-bit value out of safe range: ${String(v)}`);
  return n;
}

export function toBig(v: string | number | undefined | null): bigint {
  if (v === undefined || v === null || v === '' || v === 0) return 0n;
  return BigInt(v);
}

export function toBytes(data: Data | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const ZERO_STAT: Stat = {
  createdRevision: 0,
  modifiedRevision: 0,
  childrenRevision: 0,
  version: 0,
  childrenVersion: 0,
  createdMs: 0,
  modifiedMs: 0,
  ephemeralOwner: 0n,
  dataLength: 0,
  numChildren: 0,
  aclVersion: 0,
};

export function statFromWire(s: WireStat | null | undefined): Stat {
  if (!s) return ZERO_STAT;
  return {
    createdRevision: toNum(s.createdRevision),
    modifiedRevision: toNum(s.modifiedRevision),
    childrenRevision: toNum(s.childrenRevision),
    version: toNum(s.version),
    childrenVersion: toNum(s.childrenVersion),
    createdMs: toNum(s.createdMs),
    modifiedMs: toNum(s.modifiedMs),
    ephemeralOwner: toBig(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    aclVersion: toNum(s.aclVersion ?? '0'),
  };
}

export function statToWire(s: Stat): WireStat {
  return {
    createdRevision: String(s.createdRevision),
    modifiedRevision: String(s.modifiedRevision),
    childrenRevision: String(s.childrenRevision),
    version: String(s.version),
    childrenVersion: String(s.childrenVersion),
    createdMs: String(s.createdMs),
    modifiedMs: String(s.modifiedMs),
    ephemeralOwner: s.ephemeralOwner.toString(),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    aclVersion: String(s.aclVersion),
  };
}

export function createModeToWire(mode: CreateMode): WireCreateMode {
  switch (mode) {
    case 'persistent':
      return 'PERSISTENT';
    case 'ephemeral':
      return 'EPHEMERAL';
    case 'persistent-sequential':
      return 'PERSISTENT_SEQUENTIAL';
    case 'ephemeral-sequential':
      return 'EPHEMERAL_SEQUENTIAL';
    case 'container':
      return 'CONTAINER';
    case 'persistent-ttl':
      return 'PERSISTENT_WITH_TTL';
    default:
      return assertNever(mode, 'create mode');
  }
}

export function consistencyToWire(c: Consistency | undefined): WireConsistency {
  return c === 'serializable' ? 'SERIALIZABLE' : 'LINEARIZABLE';
}

export function scopeToWire(s: WatchScope | undefined): WireWatchScope {
  switch (s) {
    case undefined:
    case 'node':
      return 'NODE';
    case 'children':
      return 'CHILDREN';
    case 'subtree':
      return 'SUBTREE';
    default:
      return assertNever(s, 'watch scope');
  }
}

function eventTypeFromWire(t: WireEventType): EventType {
  switch (t) {
    case 'CREATED':
      return 'created';
    case 'UPDATED':
      return 'updated';
    case 'DELETED':
      return 'deleted';
    case 'EVENT_TYPE_UNSPECIFIED':
      throw new InvalidArgumentError('watch event without a type');
    default:
      return assertNever(t, 'event type');
  }
}

export function watchEventFromWire(e: WireWatchEvent): WatchEvent {
  return {
    type: eventTypeFromWire(e.type),
    path: e.path,
    data: e.data,
    stat: e.stat ? statFromWire(e.stat) : undefined,
    revision: toNum(e.revision),
  };
}

export interface CreateFields {
  readonly data?: Data | undefined;
  readonly mode?: CreateMode;
  readonly sessionId?: bigint;
  readonly ttlMs?: number;
  readonly createParents?: boolean;
  readonly acl?: readonly AclEntry[] | undefined;
}

export function createRequestToWire(path: string, f: CreateFields): WireCreateRequest {
  return {
    path,
    data: toBytes(f.data),
    mode: createModeToWire(f.mode ?? 'persistent'),
    sessionId: (f.sessionId ?? 0n).toString(),
    ttlMs: String(f.ttlMs ?? 0),
    createParents: f.createParents ?? false,
    ...(f.acl === undefined ? {} : { acl: f.acl.map((e) => ({ ...e })) }),
  };
}

export function aclFromWire(acl: readonly WireAcl[] | undefined): AclEntry[] {
  return (acl ?? []).map((e) => ({ scheme: e.scheme as AclEntry['scheme'], id: e.id, perms: e.perms }));
}

export function opToWire(op: Op): WireOp {
  switch (op.type) {
    case 'create':
      return { op: 'create', create: createRequestToWire(op.path, op) };
    case 'set':
      return {
        op: 'set',
        set: { path: op.path, data: toBytes(op.data), expectedVersion: String(op.expectedVersion ?? -1) },
      };
    case 'delete':
      return {
        op: 'delete',
        delete: {
          path: op.path,
          expectedVersion: String(op.expectedVersion ?? -1),
          recursive: op.recursive ?? false,
        },
      };
    case 'check':
      return { op: 'check', check: { path: op.path, expectedVersion: String(op.expectedVersion) } };
    default:
      return assertNever(op, 'op');
  }
}

export function opResultFromWire(r: WireOpResult): OpResult {
  switch (r.result) {
    case 'create':
      return { type: 'create', path: r.create.path, stat: statFromWire(r.create.stat) };
    case 'set':
      return { type: 'set', stat: statFromWire(r.set.stat) };
    case 'delete':
      return { type: 'delete' };
    case 'check':
      return { type: 'check' };
    default:
      return assertNever(r, 'op result');
  }
}

export function memberFromWire(m: WireMember): Member {
  return {
    id: toNum(m.id),
    name: m.name,
    clientUrl: m.clientUrl,
    peerUrl: m.peerUrl,
    role: m.role === 'LEARNER' ? 'learner' : 'voter',
    healthy: m.healthy,
  };
}

export function statusFromWire(endpoint: string, s: WireStatusResponse): MemberStatus {
  return {
    endpoint,
    memberId: toNum(s.memberId),
    leaderId: toNum(s.leaderId),
    term: toNum(s.term),
    commitIndex: toNum(s.commitIndex),
    appliedIndex: toNum(s.appliedIndex),
    revision: toNum(s.revision),
    members: s.members.map(memberFromWire),
    name: s.name,
    role: s.role,
  };
}

export function headerToWire(h: RequestHeaderValue): WireHeader {
  return { clientId: h.clientId, sequence: String(h.sequence), firstUnacked: String(h.firstUnacked) };
}
