/**
 * User/password authentication for ArborClient: exchanges the password for a short-lived token
 * (Auth.Authenticate), caches it, attaches it to every call as `authorization: Bearer <token>`
 * through a client interceptor, and fetches a new one before it expires or when a member says
 * UNAUTHENTICATED. Concurrent callers share one Authenticate in flight.
 */
import * as grpc from '@grpc/grpc-js';
import { unaryCall } from './endpoint.js';
import type { EndpointPool } from './pool.js';
import type { CallOptions } from './types.js';

interface WireAuthenticateResponse {
  token: string;
  expiresMs: string;
  authEnabled: boolean;
}

/**
 * What a long-lived stream (Watch, KeepAlive) needs from the credentials. A stream's metadata is
 * fixed when it opens and the member resolves its identity once, then: so it must open holding a
 * usable token, or the member sees an anonymous caller for the stream's whole life.
 */
export interface StreamAuth {
  /** Resolves once the interceptor holds a usable token (renewed if close to expiry), or auth is off. */
  ready(): Promise<void>;
  /** The member refused the token (expired, re-keyed): the next ready() fetches a new one. */
  refused(): void;
}

/** Renew when less than this share of the token's life is left (and at least this long before). */
const RENEW_FRACTION = 0.2;
const RENEW_MARGIN_MS = 1_000;
/** While auth is disabled there is no token; ask again this often so a switch-on is noticed. */
const DISABLED_RECHECK_MS = 30_000;

export class TokenSource {
  private token: string | undefined;
  private renewAt = 0;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly user: string,
    private readonly password: string,
  ) {}

  /** Adds the current token (if any) to every outgoing call's metadata. */
  readonly interceptor: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
        next(metadata, listener);
      },
    });

  /** Resolves once a usable token is held (or auth is known to be disabled). */
  ensure(pool: EndpointPool, opts: CallOptions): Promise<void> {
    if (Date.now() < this.renewAt) return Promise.resolve();
    this.inFlight ??= this.authenticate(pool, opts).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The token was refused: the next ensure() authenticates again. */
  invalidate(): void {
    this.renewAt = 0;
  }

  /**
   * The token for streams opened on `pool`. No caller's AbortSignal is passed on: one shared
   * Authenticate serves every waiter, and one watcher closing must not fail the others'.
   */
  forStreams(pool: EndpointPool): StreamAuth {
    return { ready: () => this.ensure(pool, {}), refused: () => this.invalidate() };
  }

  private async authenticate(pool: EndpointPool, opts: CallOptions): Promise<void> {
    const before = this.token;
    const res = await pool.retry('read', opts, (ep, deadline) =>
      unaryCall<WireAuthenticateResponse>(
        ep.authClient(),
        'Authenticate',
        { user: this.user, password: this.password },
        deadline,
        opts.signal,
      ),
    );
    const now = Date.now();
    if (!res.authEnabled || res.token === '') {
      this.token = undefined;
      this.renewAt = now + DISABLED_RECHECK_MS;
    } else {
      const expires = Number(res.expiresMs);
      this.token = res.token;
      this.renewAt = Math.max(now, expires - Math.max(RENEW_MARGIN_MS, (expires - now) * RENEW_FRACTION));
    }
    // Streams carry the metadata they were opened with: open new ones for the new token.
    if (this.token !== before) for (const ep of pool.endpoints) ep.renewStream();
  }
}
