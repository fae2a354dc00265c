/** Wall-clock and monotonic time, injected so the pure cores and tests never read the clock. */
export interface Clock {
  /** Milliseconds since the epoch (wall clock; may jump). */
  nowMs(): number;
  /** Monotonic milliseconds (for timeouts and latencies). */
  monoMs(): number;
}
