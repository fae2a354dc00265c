/**
 * The replicated authentication state: users (name → scrypt credential and roles), whether auth
 * is enforced, and the secret members sign tokens with. Passwords never enter the tree: the
 * member that received the request hashes them (scrypt is slow on purpose and must not run in
 * apply), and the command carries only salt, hash and cost parameters. The secret is chosen by
 * the proposing member and carried in authEnable, so every replica holds the same one.
 */
import { treeError, type TreeError } from './errors.js';
import { quote } from './path.js';

/** A salted scrypt hash (RFC 7914 parameters) as stored; verified by the server, never by the tree. */
export interface Credential {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
  /** CPU/memory cost (a power of two). */
  readonly n: number;
  readonly r: number;
  readonly p: number;
}

export interface UserEntry {
  readonly credential: Credential;
  /** Sorted, no duplicates. */
  readonly roles: readonly string[];
}

/** Grants the Cluster service, user management and every znode regardless of its ACL (ZooKeeper's super user). */
export const ADMIN_ROLE = 'admin';

export interface AuthState {
  readonly enabled: boolean;
  /** HMAC key for tokens; empty until auth was first enabled. */
  readonly secret: Uint8Array;
}

export const AUTH_DISABLED: AuthState = Object.freeze({ enabled: false, secret: new Uint8Array(0) });

const NAME_MAX = 128;
const ROLE = /^[a-z][a-z0-9_-]{0,63}$/;

export function validateUserName(name: string): TreeError | undefined {
  if (name.length === 0 || name.length > NAME_MAX)
    return treeError('invalidArgument', `user names must be 1 to ${NAME_MAX} characters: got ${name.length}`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x3a /* : */)
      return treeError(
        'invalidArgument',
        `user name ${quote(name)} may not contain spaces, control characters or ':'`,
      );
  }
  return undefined;
}

export function validateRole(role: string): TreeError | undefined {
  return ROLE.test(role)
    ? undefined
    : treeError(
        'invalidArgument',
        `role ${quote(role)} must be lowercase letters, digits, '_' or '-' (1-64)`,
      );
}

export function validateCredential(c: Credential): TreeError | undefined {
  const bad = (m: string): TreeError => treeError('invalidArgument', m);
  if (c.salt.length < 16 || c.salt.length > 64) return bad('credential salt must be 16 to 64 bytes');
  if (c.hash.length < 16 || c.hash.length > 128) return bad('credential hash must be 16 to 128 bytes');
  // Bounds keep a hostile command from making members burn memory verifying it.
  if (!Number.isInteger(c.n) || c.n < 2 || c.n > 1 << 20 || (c.n & (c.n - 1)) !== 0)
    return bad('scrypt N must be a power of two between 2 and 2^20');
  if (!Number.isInteger(c.r) || c.r < 1 || c.r > 32) return bad('scrypt r must be between 1 and 32');
  if (!Number.isInteger(c.p) || c.p < 1 || c.p > 16) return bad('scrypt p must be between 1 and 16');
  return undefined;
}

export function validateSecret(secret: Uint8Array): TreeError | undefined {
  return secret.length >= 32 && secret.length <= 128
    ? undefined
    : treeError('invalidArgument', `the token secret must be 32 to 128 bytes: got ${secret.length}`);
}

/** The user names among a caller's principals ('user:alice' → 'alice'). */
export function userNamesOf(who: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of who) if (p.startsWith('user:')) out.push(p.slice(5));
  return out;
}

/** Users by name. Mutations return what the undo log needs to put things back. */
export class UserTable {
  private readonly users = new Map<string, UserEntry>();

  get(name: string): UserEntry | undefined {
    return this.users.get(name);
  }

  has(name: string): boolean {
    return this.users.has(name);
  }

  /** Put or delete (entry undefined); returns the previous entry. */
  put(name: string, entry: UserEntry | undefined): UserEntry | undefined {
    const prev = this.users.get(name);
    if (entry === undefined) this.users.delete(name);
    else this.users.set(name, entry);
    return prev;
  }

  /** Users holding `role`, sorted. */
  withRole(role: string): string[] {
    const out: string[] = [];
    for (const [n, u] of this.users) if (u.roles.includes(role)) out.push(n);
    return out.sort();
  }

  /** True when one of the caller's user principals names a user with `role`. */
  hasRole(who: readonly string[], role: string): boolean {
    for (const n of userNamesOf(who)) if (this.users.get(n)?.roles.includes(role)) return true;
    return false;
  }

  names(): string[] {
    return [...this.users.keys()].sort();
  }

  entries(): IterableIterator<[string, UserEntry]> {
    return this.users.entries();
  }

  clear(): void {
    this.users.clear();
  }
}

/** Adds a role to a sorted role list (unchanged when present). */
export function withRole(roles: readonly string[], role: string): readonly string[] {
  return roles.includes(role) ? roles : [...roles, role].sort();
}
