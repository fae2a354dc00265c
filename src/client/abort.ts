/** Small helpers for AbortSignal-aware waiting. */
import { CancelledError } from './errors.js';

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('aborted by caller', { cause: signal.reason });
}

/** Resolves after `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return releasableSleep(ms, signal).promise;
}

/**
 * sleep() that `release()` ends early (resolved). `onExpire` runs, synchronously, when the time
 * is up or `signal` aborts first, not after a release.
 */
export function releasableSleep(
  ms: number,
  signal?: AbortSignal,
  onExpire?: () => void,
): { promise: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError('aborted by caller', { cause: signal.reason }));
      return;
    }
    const stop = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      stop();
      onExpire?.();
      reject(new CancelledError('aborted by caller', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        stop();
        onExpire?.();
        resolve();
      },
      Math.max(0, ms),
    );
    release = () => {
      stop();
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, release };
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
