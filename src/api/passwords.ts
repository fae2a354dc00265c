/**
 * Password hashing with scrypt (RFC 7914), a memory-hard KDF from Node's crypto, always through
 * the async API so the work runs on libuv's thread pool and never blocks the event loop. Only
 * the member that received the password hashes it; the replicated command carries the result.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Credential } from '../tree/auth-table.js';

/** OWASP's scrypt baseline (N=2^15 would double the cost; 2^14 keeps Authenticate near 50 ms). */
export const SCRYPT_PARAMS = { n: 1 << 14, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Longest password accepted (bounds the work a hostile request can ask for). */
export const MAX_PASSWORD_BYTES = 1024;

function derive(
  password: string,
  salt: Uint8Array,
  c: { n: number; r: number; p: number },
  len: number,
): Promise<Buffer> {
  const opts: ScryptOptions = { N: c.n, r: c.r, p: c.p, maxmem: 256 * c.n * c.r * c.p + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, len, opts, (e, key) => (e ? reject(e) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<Credential> {
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const hash = new Uint8Array(await derive(password, salt, SCRYPT_PARAMS, KEY_BYTES));
  return { salt, hash, ...SCRYPT_PARAMS };
}

/** Constant-time comparison against the stored hash, with the parameters it was made with. */
export async function verifyPassword(password: string, c: Credential): Promise<boolean> {
  const key = await derive(password, c.salt, c, c.hash.length);
  return timingSafeEqual(key, c.hash);
}
