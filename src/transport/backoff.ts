import type { BackoffOptions } from './transport-interface.js';

/**
 * Exponential backoff with jitter for re-opening a peer stream (the shape of gRPC's connection
 * backoff). Jitter spreads the retries of members that lost a peer at the same moment.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number,
    private readonly multiplier = 2,
    private readonly jitter = 0.2,
  ) {}

  /** The delay before the next retry; grows until reset(). */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * this.multiplier ** this.attempt);
    this.attempt++;
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(base + spread));
  }

  /** After a stream is accepted: the next failure starts from initialMs again. */
  reset(): void {
    this.attempt = 0;
  }
}
