/**
 * Short-lived bearer tokens: `v1.<base64url user>.<expiry ms>.<base64url HMAC-SHA256>`, keyed
 * with the cluster's replicated secret, so any member can verify a token another issued and no
 * member keeps token state. A token is refused once expired, once its user is deleted, or once
 * the secret changes (auth disabled and enabled again).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  readonly user: string;
  readonly expiresMs: number;
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: TokenClaims }
  | { readonly ok: false; readonly reason: 'malformed' | 'badSignature' | 'expired' };

function mac(secret: Uint8Array, body: string): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

export function signToken(secret: Uint8Array, claims: TokenClaims): string {
  const body = `v1.${Buffer.from(claims.user).toString('base64url')}.${claims.expiresMs}`;
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

export function verifyToken(secret: Uint8Array, token: string, nowMs: number): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== 'v1') return { ok: false, reason: 'malformed' };
  const [, user64 = '', expRaw = '', sig64 = ''] = parts;
  const expiresMs = Number(expRaw);
  if (!/^\d{1,16}$/.test(expRaw) || !Number.isSafeInteger(expiresMs))
    return { ok: false, reason: 'malformed' };
  const want = mac(secret, `v1.${user64}.${expRaw}`);
  const got = Buffer.from(sig64, 'base64url');
  // Only the canonical encoding: base64 ignores stray trailing bits, so without this check one
  // signature would have several spellings (a token that is not what was issued is not one).
  if (got.toString('base64url') !== sig64) return { ok: false, reason: 'malformed' };
  if (secret.length === 0 || got.length !== want.length || !timingSafeEqual(got, want)) {
    return { ok: false, reason: 'badSignature' };
  }
  if (expiresMs <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { user: Buffer.from(user64, 'base64url').toString('utf8'), expiresMs } };
}
