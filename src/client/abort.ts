/** Small helpers for AbortSignal-aware waiting. */
import { CancelledError } from './errors.js';

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('aborted by caller', { cause: signal.reason });
}

/** Resolves after `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError('aborted by caller', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError('aborted by caller', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Exponential backoff with jitter after the `failures`-th consecutive failure. The first
 * failures against distinct members retry at once (another member may well be fine); only
 * after a full round over `members` does the delay start doubling.
 */
export function backoffMs(
  failures: number,
  members: number,
  opts: { readonly baseMs: number; readonly maxMs: number },
  random: () => number = Math.random,
): number {
  if (failures < members) return 0;
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(30, failures - members));
  // "Equal jitter": keep half, randomise half, so retries from many clients spread out.
  return exp / 2 + (random() * exp) / 2;
}
