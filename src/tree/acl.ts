/**
 * Per-znode access control in ZooKeeper's model: an ACL is a list of (scheme, id, perms) and a
 * caller may do an operation when any entry matching one of its principals grants the needed
 * permission. Schemes: `world` (id `anyone`, matches every caller), `user` (a name from the
 * replicated user table, proven with a password/token) and `x509` (a TLS client certificate
 * subject). Pure: the server resolves who the caller is; the tree only matches strings.
 */
import { DecodeError, type ByteReader, type ByteWriter } from '../util/bytes.js';
import { err, ok, type Result } from '../util/result.js';
import { treeError, type TreeError } from './errors.js';
import { quote } from './path.js';

/** ZooKeeper's permission bits (ZooDefs.Perms), so ACLs read the same to ZooKeeper users. */
export const PERM = { read: 1, write: 2, create: 4, delete: 8, admin: 16 } as const;
export type PermName = keyof typeof PERM;
export const ALL_PERMS = 31;

export const ACL_SCHEMES = ['world', 'user', 'x509'] as const;
export type AclScheme = (typeof ACL_SCHEMES)[number];

export interface AclEntry {
  readonly scheme: AclScheme;
  readonly id: string;
  /** A bitmask of PERM values; invariant: 0 < perms <= ALL_PERMS. */
  readonly perms: number;
}
export type Acl = readonly AclEntry[];

/**
 * The caller's principals, e.g. ['user:alice', 'x509:CN=alice']; [] is an anonymous caller.
 * `world:anyone` is implied for everyone and never listed.
 */
export type Identity = readonly string[];

/** What a fresh tree (and every node created without an ACL under it) has: ZooKeeper's OPEN_ACL_UNSAFE. */
export const OPEN_ACL: Acl = Object.freeze([
  Object.freeze({ scheme: 'world', id: 'anyone', perms: ALL_PERMS }),
]);

export const MAX_ACL_ENTRIES = 64;
const MAX_ID_LENGTH = 1024;

export function principal(scheme: Exclude<AclScheme, 'world'>, id: string): string {
  return `${scheme}:${id}`;
}

/** True when some entry of `acl` grants `perm` to `who`. */
export function permits(acl: Acl, who: Identity, perm: number): boolean {
  for (const e of acl) {
    if ((e.perms & perm) === 0) continue;
    if (e.scheme === 'world') return true;
    const p = `${e.scheme}:${e.id}`;
    for (const q of who) if (q === p) return true;
  }
  return false;
}

/** 'rwcda'-style letters (ZooKeeper's CLI order), e.g. 'r-c--'-free: only the letters granted. */
export function permsToString(perms: number): string {
  let s = '';
  if (perms & PERM.create) s += 'c';
  if (perms & PERM.delete) s += 'd';
  if (perms & PERM.read) s += 'r';
  if (perms & PERM.write) s += 'w';
  if (perms & PERM.admin) s += 'a';
  return s;
}

const LETTER: Readonly<Record<string, number>> = { c: 4, d: 8, r: 1, w: 2, a: 16 };

/** Parses 'cdrwa' letters; undefined when a letter is unknown or none is given. */
export function permsFromString(s: string): number | undefined {
  let p = 0;
  for (const ch of s) {
    const bit = LETTER[ch];
    if (bit === undefined) return undefined;
    p |= bit;
  }
  return p === 0 ? undefined : p;
}

/** `scheme:id:perms` lines, as ZooKeeper's getAcl prints them. */
export function formatAcl(acl: Acl): string[] {
  return acl.map((e) => `${e.scheme}:${e.id}:${permsToString(e.perms)}`);
}

/** Parses 'scheme:id:perms' (the id may itself contain ':', e.g. an x509 subject). */
export function parseAclEntry(s: string): Result<AclEntry, string> {
  const first = s.indexOf(':');
  const last = s.lastIndexOf(':');
  if (first < 0 || last === first)
    return err(`ACL entry '${s}' must look like scheme:id:perms, e.g. user:alice:rw`);
  const scheme = s.slice(0, first);
  const id = s.slice(first + 1, last);
  const perms = permsFromString(s.slice(last + 1));
  if (!(ACL_SCHEMES as readonly string[]).includes(scheme))
    return err(`ACL scheme '${scheme}' is not one of ${ACL_SCHEMES.join(', ')}`);
  if (perms === undefined) return err(`ACL perms '${s.slice(last + 1)}' must be letters from cdrwa`);
  return ok({ scheme: scheme as AclScheme, id, perms });
}

/** Checks an ACL a client sent (the tree re-checks at apply: a replica must never hold a bad one). */
export function validateAcl(acl: Acl, path: string): TreeError | undefined {
  const bad = (m: string): TreeError => treeError('invalidArgument', m, path);
  if (acl.length === 0)
    return bad(
      `the ACL for ${quote(path)} is empty, which would lock everyone out: grant at least one entry`,
    );
  if (acl.length > MAX_ACL_ENTRIES)
    return bad(`the ACL has ${acl.length} entries; the limit is ${MAX_ACL_ENTRIES}`);
  for (const e of acl) {
    if (!(ACL_SCHEMES as readonly string[]).includes(e.scheme))
      return bad(`ACL scheme ${quote(e.scheme)} is not one of ${ACL_SCHEMES.join(', ')}`);
    if (!Number.isInteger(e.perms) || e.perms <= 0 || e.perms > ALL_PERMS)
      return bad(
        `ACL perms must be a non-empty combination of CREATE, READ, WRITE, DELETE, ADMIN: got ${e.perms}`,
      );
    if (e.scheme === 'world' && e.id !== 'anyone')
      return bad(`the world scheme's only id is 'anyone': got ${quote(e.id)}`);
    if (e.id.length === 0 || e.id.length > MAX_ID_LENGTH)
      return bad(`ACL ids must be 1 to ${MAX_ID_LENGTH} characters: got ${e.id.length}`);
    for (let i = 0; i < e.id.length; i++) {
      const c = e.id.charCodeAt(i);
      if (c <= 0x1f || c === 0x7f) return bad(`ACL id ${quote(e.id)} contains a control character`);
    }
  }
  return undefined;
}

export function isOpenAcl(acl: Acl): boolean {
  if (acl === OPEN_ACL) return true;
  const e = acl[0];
  return acl.length === 1 && e !== undefined && e.scheme === 'world' && e.perms === ALL_PERMS;
}

/** Canonical text of an ACL, for sharing equal ACLs between nodes. */
export function aclKey(acl: Acl): string {
  return acl.map((e) => `${e.scheme}\u0000${e.id}\u0000${e.perms}`).join('\u0001');
}

/** A short description of the permission, for error and audit messages. */
export function permName(perm: number): string {
  const names = (Object.keys(PERM) as PermName[]).filter((k) => (perm & PERM[k]) !== 0);
  return names.map((n) => n.toUpperCase()).join('|');
}

/** The binary form shared by log entries and tree records: count, then (scheme, id, perms) each. */
export function writeAcl(w: ByteWriter, acl: Acl): void {
  w.uvarint(acl.length);
  for (const e of acl) w.u8(ACL_SCHEMES.indexOf(e.scheme)).string(e.id).uvarint(e.perms);
}

/** Reads what writeAcl wrote; a count above `maxEntries` is corrupt input, not an allocation. */
export function readAcl(r: ByteReader, maxEntries: number): Acl {
  const n = r.uvarint();
  if (n > maxEntries) throw new DecodeError(`ACL of ${n} entries (at most ${maxEntries} possible here)`);
  const acl: AclEntry[] = [];
  for (let i = 0; i < n; i++) {
    const si = r.u8();
    const scheme = ACL_SCHEMES[si];
    if (scheme === undefined) throw new DecodeError(`unknown ACL scheme ${si}`);
    acl.push({ scheme, id: r.string(), perms: r.uvarint() });
  }
  return acl;
}
