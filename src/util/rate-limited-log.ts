import type { CoreLogger } from './logger.js';

/**
 * Warnings that a misbehaving or misconfigured peer can trigger on every frame (wrong cluster id,
 * a broken stream retried forever, messages a member of another version cannot decode). One
 * line per key per interval, with the count suppressed since the last line, so a flood cannot
 * drown the log.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly logger: Pick<CoreLogger, 'warn'>,
    private readonly intervalMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.last.set(key, { atMs: t, suppressed: 0 });
    this.logger.warn({ ...fields, suppressed: seen?.suppressed ?? 0 }, msg);
  }
}
