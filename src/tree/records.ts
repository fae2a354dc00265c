/**
 * Persistence as key/value records: the key scheme, record codecs and per-record hashes (the
 * digest is the sum of record hashes, so a tree rebuilt from its records has the same digest).
 *
 * Keys (byte order keeps a parent before its children, since a prefix sorts first):
 *   'm'                                  meta: last applied revision, last client-table scan
 *   'n' + utf8(path)                     a znode
 *   's' + u64be(sessionId)               a session
 *   'c' + utf8(clientId)                 an exactly-once client: last seen, oldest retained seq
 *   'r' + utf8(clientId) 0x00 u64be(seq) a cached result (clientIds contain no control chars)
 *   'a'                                  auth state: enabled flag, token secret (absent: never enabled)
 *   'u' + utf8(name)                     a user: scrypt credential and roles
 * Inside the tree, keys are strings ('s'/'r' with decimal numbers) and become bytes only in
 * takeChanges().
 */
import { sessionId, type SessionId } from '../util/brand.js';
import { ByteReader, ByteWriter, DecodeError, putU64BE, scratch } from '../util/bytes.js';
import { ACL_SCHEMES, isOpenAcl, OPEN_ACL, readAcl, writeAcl } from './acl.js';
import type { AuthState, Credential, UserEntry } from './auth-table.js';
import type { Hasher } from './digest.js';
import type { ZPath } from './path.js';
import { EMPTY, NO_OWNER, Znode, type ZnodeKind } from './znode.js';
import { ByteSlab } from '../util/byte-slab.js';

const FORMAT = 1;
/**
 * Node records with a non-default ACL (or a changed ACL version) use format 2, which appends
 * aclVersion and the ACL; nodes with the open ACL keep format 1, so existing data reads as is
 * and a tree that never uses ACLs is stored exactly as before.
 */
const NODE_FORMAT_ACL = 2;
const KINDS: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl'];

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

export const META_KEY = 'm';
export const nodeKey = (p: string): string => 'n' + p;
export const sessionKey = (id: SessionId): string => 's' + id.toString();
export const clientKey = (clientId: string): string => 'c' + clientId;
export const resultKey = (clientId: string, seq: number): string => 'r' + clientId + '\u0000' + String(seq);
export const AUTH_KEY = 'a';
export const userKey = (name: string): string => 'u' + name;

/**
 * The first `to` characters of `s` as UTF-8 at the start of `out` when they are all ASCII (every
 * key a write touches, in practice); false, with `out` partly written, otherwise. TextEncoder
 * gave every key an ArrayBuffer of its own.
 */
function putAscii(out: Uint8Array, s: string, to: number): boolean {
  for (let i = 0; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return false;
    out[i] = c;
  }
  return true;
}

/** The byte form of an internal string key (a view into a shared slab for ASCII keys). */
export function keyBytes(key: string): Uint8Array {
  const tag = key.charCodeAt(0);
  if (tag === 0x73 /* s */) {
    const w = new ByteWriter(9);
    return w
      .u8(tag)
      .u64(BigInt(key.slice(1)))
      .finish();
  }
  if (tag === 0x72 /* r */) {
    // 'r' ++ clientId ++ 0x00 ++ seq as u64 big-endian
    const nul = key.lastIndexOf('\u0000');
    const seq = Number(key.slice(nul + 1));
    let out = scratch(nul + 9);
    if (!putAscii(out, key, nul)) {
      const id = utf8.encode(key.slice(1, nul));
      out = new Uint8Array(1 + id.length + 1 + 8);
      out[0] = tag;
      out.set(id, 1);
    }
    const at = out.length - 9;
    out[at] = 0;
    putU64BE(out, at + 1, seq);
    return out;
  }
  const out = scratch(key.length);
  return putAscii(out, key, key.length) ? out : utf8.encode(key);
}

export type ParsedKey =
  | { readonly type: 'meta' }
  | { readonly type: 'node'; readonly path: ZPath }
  | { readonly type: 'session'; readonly sessionId: SessionId }
  | { readonly type: 'client'; readonly clientId: string }
  | { readonly type: 'result'; readonly clientId: string; readonly seq: number }
  | { readonly type: 'auth' }
  | { readonly type: 'user'; readonly name: string };

function text(b: Uint8Array): string {
  try {
    return utf8d.decode(b);
  } catch {
    throw new DecodeError('record key is not valid UTF-8');
  }
}

export function parseKey(k: Uint8Array): ParsedKey {
  const tag = k[0];
  switch (tag) {
    case 0x6d:
      if (k.length !== 1) throw new DecodeError('bad meta key');
      return { type: 'meta' };
    case 0x6e:
      return { type: 'node', path: text(k.subarray(1)) as ZPath };
    case 0x73:
      if (k.length !== 9) throw new DecodeError('bad session key');
      return {
        type: 'session',
        sessionId: sessionId(new DataView(k.buffer, k.byteOffset + 1, 8).getBigUint64(0)),
      };
    case 0x63:
      return { type: 'client', clientId: text(k.subarray(1)) };
    case 0x72: {
      if (k.length < 11 || k[k.length - 9] !== 0) throw new DecodeError('bad result key');
      const seq = new DataView(k.buffer, k.byteOffset + k.length - 8, 8).getBigUint64(0);
      if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError('result seq out of range');
      return { type: 'result', clientId: text(k.subarray(1, k.length - 9)), seq: Number(seq) };
    }
    case 0x61:
      if (k.length !== 1) throw new DecodeError('bad auth key');
      return { type: 'auth' };
    case 0x75:
      return { type: 'user', name: text(k.subarray(1)) };
    case undefined:
      throw new DecodeError('empty record key');
    default:
      throw new DecodeError(`unknown record key tag ${tag}`);
  }
}

// ---- node ----

/** True when the node's ACL differs from what a node that never had one carries. */
export function hasCustomAcl(n: Znode): boolean {
  return n.aclVersion !== 0 || !isOpenAcl(n.acl);
}

export function encodeNode(n: Znode): Uint8Array {
  const custom = hasCustomAcl(n);
  const w = new ByteWriter(48 + n.data.length);
  w.u8(custom ? NODE_FORMAT_ACL : FORMAT)
    .u8(KINDS.indexOf(n.kind))
    .bytes(n.data);
  w.uvarint(n.createdRevision).uvarint(n.modifiedRevision).uvarint(n.childrenRevision);
  w.uvarint(n.version).uvarint(n.childrenVersion).uvarint(n.createdMs).uvarint(n.modifiedMs);
  w.u64(n.ephemeralOwner).uvarint(n.ttlMs).uvarint(n.seq);
  if (custom) writeAcl(w.uvarint(n.aclVersion), n.acl);
  return w.finish();
}

/** Restored payloads share slabs: a million znodes must not cost a million ArrayBuffers. */
const restoredData = new ByteSlab();

/** Decodes a node record; the payload is copied so the node does not pin the record buffer. */
export function decodeNode(b: Uint8Array): Znode {
  const r = new ByteReader(b);
  const format = r.u8();
  if (format !== FORMAT && format !== NODE_FORMAT_ACL) throw new DecodeError('unknown node record format');
  const ki = r.u8();
  const kind = KINDS[ki];
  if (kind === undefined) throw new DecodeError(`unknown znode kind ${ki}`);
  const raw = r.bytes();
  const data = raw.length === 0 ? EMPTY : restoredData.copy(raw);
  const createdRevision = r.uvarint();
  const n = new Znode(kind, data, createdRevision, 0, 0n, 0);
  n.modifiedRevision = r.uvarint();
  n.childrenRevision = r.uvarint();
  n.version = r.uvarint();
  n.childrenVersion = r.uvarint();
  n.createdMs = r.uvarint();
  n.modifiedMs = r.uvarint();
  const owner = r.u64();
  // Share the one NO_OWNER rather than hold a fresh 0n per znode.
  n.ephemeralOwner = owner === NO_OWNER ? NO_OWNER : owner;
  n.ttlMs = r.uvarint();
  n.seq = r.uvarint();
  if (format === NODE_FORMAT_ACL) {
    n.aclVersion = r.uvarint();
    n.acl = readAcl(r, 1024);
  } else n.acl = OPEN_ACL;
  r.end();
  return n;
}

/**
 * A node's hash has two parts so a child create/delete (which changes only the parent's
 * counters) rehashes the parent's path and counters, never its payload.
 */
export function hashNodeMeta(h: Hasher, path: string, n: Znode): Hasher {
  h.reset(1).str(path).u32(KINDS.indexOf(n.kind));
  h.num(n.createdRevision).num(n.modifiedRevision).num(n.childrenRevision);
  h.num(n.version).num(n.childrenVersion).num(n.createdMs).num(n.modifiedMs);
  h.big(n.ephemeralOwner).num(n.ttlMs).num(n.seq);
  // Only non-default ACLs are hashed, so trees that never used ACLs keep their digests.
  if (hasCustomAcl(n)) {
    h.num(n.aclVersion).u32(n.acl.length);
    for (const e of n.acl) h.u32(ACL_SCHEMES.indexOf(e.scheme)).str(e.id).u32(e.perms);
  }
  return h.finish();
}

export function hashNodeData(h: Hasher, path: string, data: Uint8Array): Hasher {
  return h.reset(2).str(path).bytes(data).finish();
}

// ---- session ----

export function encodeSession(timeoutMs: number): Uint8Array {
  return new ByteWriter(12).u8(FORMAT).uvarint(timeoutMs).finish();
}

export function decodeSession(b: Uint8Array): number {
  const r = new ByteReader(b);
  if (r.u8() !== FORMAT) throw new DecodeError('unknown session record format');
  const t = r.uvarint();
  r.end();
  return t;
}

export function hashSession(h: Hasher, id: SessionId, timeoutMs: number): Hasher {
  return h.reset(3).big(id).num(timeoutMs).finish();
}

// ---- client table ----

export interface ClientRecord {
  readonly lastSeenMs: number;
  /** Every seq below this is forgotten. */
  readonly floor: number;
}

export function encodeClient(c: ClientRecord): Uint8Array {
  return new ByteWriter(20).u8(FORMAT).uvarint(c.lastSeenMs).uvarint(c.floor).finish();
}

export function decodeClient(b: Uint8Array): ClientRecord {
  const r = new ByteReader(b);
  if (r.u8() !== FORMAT) throw new DecodeError('unknown client record format');
  const c = { lastSeenMs: r.uvarint(), floor: r.uvarint() };
  r.end();
  return c;
}

export function hashClient(h: Hasher, clientId: string, c: ClientRecord): Hasher {
  return h.reset(4).str(clientId).num(c.lastSeenMs).num(c.floor).finish();
}

export function hashResult(h: Hasher, clientId: string, seq: number, bytes: Uint8Array): Hasher {
  return h.reset(5).str(clientId).num(seq).bytes(bytes).finish();
}

// ---- meta ----

export interface MetaRecord {
  readonly revision: number;
  readonly lastClientScanMs: number;
}

export function encodeMeta(m: MetaRecord): Uint8Array {
  return new ByteWriter(20).u8(FORMAT).uvarint(m.revision).uvarint(m.lastClientScanMs).finish();
}

export function decodeMeta(b: Uint8Array): MetaRecord {
  const r = new ByteReader(b);
  if (r.u8() !== FORMAT) throw new DecodeError('unknown meta record format');
  const m = { revision: r.uvarint(), lastClientScanMs: r.uvarint() };
  r.end();
  return m;
}

/**
 * The applied revision is left out on purpose: replicas are compared at the same revision
 * anyway, and leaving it out lets "a failed command changes nothing" mean "same digest".
 */
export function hashMeta(h: Hasher, m: MetaRecord): Hasher {
  return h.reset(6).num(m.lastClientScanMs).finish();
}

// ---- auth ----

export function encodeAuth(a: AuthState): Uint8Array {
  return new ByteWriter(48 + a.secret.length).u8(FORMAT).bool(a.enabled).bytes(a.secret).finish();
}

export function decodeAuth(b: Uint8Array): AuthState {
  const r = new ByteReader(b);
  if (r.u8() !== FORMAT) throw new DecodeError('unknown auth record format');
  const a = { enabled: r.bool(), secret: r.bytes().slice() };
  r.end();
  return a;
}

export function hashAuth(h: Hasher, a: AuthState): Hasher {
  return h
    .reset(7)
    .u32(a.enabled ? 1 : 0)
    .bytes(a.secret)
    .finish();
}

function writeCredential(w: ByteWriter, c: Credential): ByteWriter {
  return w.bytes(c.salt).bytes(c.hash).uvarint(c.n).uvarint(c.r).uvarint(c.p);
}

export function encodeUser(u: UserEntry): Uint8Array {
  const w = new ByteWriter(128);
  writeCredential(w.u8(FORMAT), u.credential).uvarint(u.roles.length);
  for (const role of u.roles) w.string(role);
  return w.finish();
}

export function decodeUser(b: Uint8Array): UserEntry {
  const r = new ByteReader(b);
  if (r.u8() !== FORMAT) throw new DecodeError('unknown user record format');
  const credential = {
    salt: r.bytes().slice(),
    hash: r.bytes().slice(),
    n: r.uvarint(),
    r: r.uvarint(),
    p: r.uvarint(),
  };
  const count = r.uvarint();
  if (count > 1024) throw new DecodeError(`user record with ${count} roles`);
  const roles: string[] = [];
  for (let i = 0; i < count; i++) roles.push(r.string());
  r.end();
  return { credential, roles };
}

export function hashUser(h: Hasher, name: string, u: UserEntry): Hasher {
  const c = u.credential;
  h.reset(8).str(name).bytes(c.salt).bytes(c.hash).num(c.n).num(c.r).num(c.p).u32(u.roles.length);
  for (const role of u.roles) h.str(role);
  return h.finish();
}
