/**
 * Who is calling, decided once at the boundary of the member that received the call: the
 * subject of a verified TLS client certificate (x509:<subject>) and/or the user named by a
 * bearer token in the `authorization` metadata (user:<name>). While auth is disabled nothing is
 * resolved and nothing is checked, so the hot path pays one boolean test. Writes carry the
 * identity in their envelope and are checked at apply; reads, watches and admin-only calls are
 * checked here, on the serving member. Every refusal goes to the audit log with the identity.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.js';
import { permName, principal, type Acl, type Identity } from '../tree/acl.js';
import { ADMIN_ROLE } from '../tree/auth-table.js';
import type { DataTree } from '../tree/data-tree.js';
import { quote } from '../tree/path.js';
import { MemberError } from '../server/errors.js';
import { MAX_PASSWORD_BYTES, verifyPassword } from './passwords.js';
import { signToken, verifyToken, type TokenClaims } from './tokens.js';

/** What grpc-js server calls offer (unary, streaming and interceptor calls alike). */
export interface CallLike {
  readonly metadata: grpc.Metadata;
  getAuthContext(): { sslPeerCertificate?: { subject?: object } | undefined };
  getPeer(): string;
}

export interface AuthGateOptions {
  /** The tree as applied on this member (user table, auth switch, ACLs). */
  readonly tree: () => DataTree;
  readonly clock: Clock;
  readonly tokenTtlMs: number;
  /** The `component: 'audit'` child logger. */
  readonly audit: Logger;
}

const BEARER = /^Bearer\s+(\S+)$/i;
const TOKEN_CACHE_MAX = 10_000;

const unauthenticated = (why: string): MemberError =>
  new MemberError(
    'unauthenticated',
    `${why}: call Authenticate (or \`arbor --user NAME --password ...\`) for a new token and send it as metadata "authorization: Bearer <token>"`,
  );

export class AuthGate {
  /** Verified tokens (HMAC checked once per token, not per call); dropped when the secret changes. */
  private verified = new Map<string, TokenClaims>();
  private verifiedWith: Uint8Array | undefined;

  constructor(private readonly opts: AuthGateOptions) {}

  get audit(): Logger {
    return this.opts.audit;
  }

  get enabled(): boolean {
    return this.opts.tree().authEnabled;
  }

  /**
   * The caller's identity, or undefined while auth is disabled (nothing to carry or check).
   * Throws UNAUTHENTICATED for a token that is malformed, forged, expired or of a deleted user:
   * a bad credential is an error, never silently anonymous.
   */
  identify(call: CallLike): Identity | undefined {
    const tree = this.opts.tree();
    if (!tree.authEnabled) return undefined;
    const who: string[] = [];
    const subject = subjectOf(call);
    if (subject !== undefined) who.push(principal('x509', subject));
    const header = call.metadata.get('authorization')[0];
    if (header !== undefined) {
      const m = BEARER.exec(typeof header === 'string' ? header : header.toString());
      if (m === null) {
        this.fail(call, undefined, 'malformed authorization header');
        throw unauthenticated('the authorization metadata is not "Bearer <token>"');
      }
      who.push(principal('user', this.checkToken(call, tree, m[1] as string)));
    }
    return who;
  }

  /** The identity for calls that need one even while auth is disabled (AuthStatus). */
  describe(who: Identity | undefined): string {
    return who === undefined ? 'anyone (auth disabled)' : who.length === 0 ? 'anonymous' : who.join(', ');
  }

  /** Throws PERMISSION_DENIED (audited) unless `who` may do `perm` on a node with `acl`. */
  require(acl: Acl, who: Identity | undefined, perm: number, path: string, op: string): void {
    if (who === undefined) return;
    if (this.opts.tree().allowed(acl, who, perm)) return;
    this.opts.audit.warn({ event: 'aclDenied', identity: who, op, path, perm: permName(perm) }, 'ACL denied');
    throw new MemberError(
      'permissionDenied',
      `${who.length === 0 ? 'an anonymous caller' : who.join(', ')} lacks ${permName(perm)} on ${quote(path)}: authenticate as a user the ACL grants it to, or ask an admin to change the ACL`,
    );
  }

  /** Cluster operations and user management: the admin role, once auth is enabled. */
  requireAdmin(who: Identity | undefined, op: string): void {
    if (who === undefined) return;
    if (this.opts.tree().hasRole(who, ADMIN_ROLE)) return;
    this.opts.audit.warn({ event: 'adminDenied', identity: who, op }, 'admin role required');
    throw new MemberError(
      'permissionDenied',
      `${op} needs the ${ADMIN_ROLE} role; ${who.length === 0 ? 'this call is anonymous' : `${who.join(', ')} does not have it`}: authenticate as an admin user`,
    );
  }

  /**
   * Checks a password (scrypt on the thread pool) and issues a token. While auth is disabled the
   * answer is an empty token: no credentials are needed yet.
   */
  async authenticate(
    call: CallLike,
    user: string,
    password: string,
  ): Promise<{ token: string; expiresMs: number; enabled: boolean }> {
    const tree = this.opts.tree();
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      this.fail(call, user, 'password too long');
      throw unauthenticated('wrong user name or password');
    }
    const entry = tree.user(user);
    // Hash even for unknown users, so response time does not reveal which names exist.
    const ok = entry !== undefined && (await verifyPassword(password, entry.credential));
    if (!ok) {
      if (entry === undefined) await verifyPassword(password, DUMMY);
      this.fail(call, user, entry === undefined ? 'unknown user' : 'wrong password');
      throw unauthenticated('wrong user name or password');
    }
    const now = this.opts.clock.nowMs();
    const t = this.opts.tree();
    if (!t.authEnabled) return { token: '', expiresMs: now + this.opts.tokenTtlMs, enabled: false };
    const expiresMs = now + this.opts.tokenTtlMs;
    this.opts.audit.info(
      { event: 'authenticated', identity: [principal('user', user)], peer: call.getPeer() },
      'token issued',
    );
    return { token: signToken(t.authSecret, { user, expiresMs }), expiresMs, enabled: true };
  }

  private checkToken(call: CallLike, tree: DataTree, token: string): string {
    const secret = tree.authSecret;
    if (this.verifiedWith !== secret) {
      this.verified = new Map();
      this.verifiedWith = secret;
    }
    const now = this.opts.clock.nowMs();
    let claims = this.verified.get(token);
    if (claims === undefined) {
      const r = verifyToken(secret, token, now);
      if (!r.ok) {
        this.fail(call, undefined, `token ${r.reason}`);
        throw unauthenticated(
          r.reason === 'expired' ? 'the token has expired' : 'the token is not valid for this cluster',
        );
      }
      claims = r.claims;
      if (this.verified.size >= TOKEN_CACHE_MAX) this.verified.clear();
      this.verified.set(token, claims);
    } else if (claims.expiresMs <= now) {
      this.verified.delete(token);
      this.fail(call, claims.user, 'token expired');
      throw unauthenticated('the token has expired');
    }
    if (tree.user(claims.user) === undefined) {
      this.fail(call, claims.user, 'user deleted');
      throw unauthenticated(`user ${quote(claims.user)} no longer exists`);
    }
    return claims.user;
  }

  private fail(call: CallLike, user: string | undefined, reason: string): void {
    this.opts.audit.warn(
      { event: 'authFailed', peer: call.getPeer(), ...(user === undefined ? {} : { user }), reason },
      'authentication failed',
    );
  }
}

/** A fixed credential to hash against for unknown users (same cost as a real check). */
const DUMMY = { salt: new Uint8Array(16), hash: new Uint8Array(32), n: 1 << 14, r: 8, p: 1 };

/**
 * The subject of a client certificate the TLS layer verified against --tls-ca, as
 * "O=example,CN=alice" in the certificate's order; undefined without one. Values are escaped
 * as in RFC 4514 so that no value can pass for several attributes ("O=a\,CN\=x" is one value).
 */
export function subjectOf(call: CallLike): string | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  const subject = cert?.subject as Record<string, string | string[]> | undefined;
  if (subject === undefined) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(subject)) {
    for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${escapeDnValue(x)}`);
  }
  return parts.length === 0 ? undefined : parts.join(',');
}

/** RFC 4514 §2.4: backslash before the special characters, a leading '#' or space, a trailing space. */
export function escapeDnValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}
