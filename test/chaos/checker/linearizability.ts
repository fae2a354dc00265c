/**
 * Linearizability of a register history, key by key (P-compositionality: Horn & Kroening,
 * "Faster linearizability checking via P-compositionality", 2015 — a history of independent
 * objects is linearizable iff each object's sub-history is). A Multi that spans keys appears in
 * each key's sub-history; checking the projections is then necessary, not sufficient, for the
 * Multi's atomicity.
 *
 * On a violation the smallest failing window is searched for and reported:
 * - cut the end at the earliest completion time t1 that still fails; operations still running at
 *   t1 become "unknown outcome" (sound: their results are simply forgotten);
 * - then drop every operation that completed before the latest quiescent time t0 that still fails,
 *   starting from an unknown register state (sound: at a quiescent point every known operation
 *   has either completed or not started, so some state separates them; pending unknown-outcome
 *   operations are kept and may still apply).
 */
import type { RegisterOp } from './history.js';
import { registerModel, UNKNOWN, type RegState } from './register-model.js';
import { checkLinearizable, type TimedOp, type WglResult } from './wgl.js';

export interface KeyVerdict {
  readonly key: string;
  readonly ops: number;
  readonly result: WglResult['type'];
  /** For illegal keys: the smallest failing window found. */
  readonly window?: readonly RegisterOp[];
  readonly windowFromUnknownState?: boolean;
}

export interface LinearizabilityReport {
  readonly valid: boolean;
  /** Operations that entered the check (ok and info; definite failures have no effect). */
  readonly checked: number;
  readonly keys: number;
  readonly failures: readonly KeyVerdict[];
  /** Keys whose search ran out of budget: not proven either way, reported as a failure. */
  readonly undecided: readonly string[];
}

/** ok operations keep their results; info writes and cas stay (ret = ∞); failures and info reads go. */
export function relevant(ops: readonly RegisterOp[]): RegisterOp[] {
  return ops.filter((o) => o.outcome === 'ok' || (o.outcome === 'info' && o.f !== 'read'));
}

function timed(ops: readonly RegisterOp[]): TimedOp<RegisterOp>[] {
  return ops.map((o) => ({ call: o.call, ret: o.outcome === 'info' ? Infinity : o.ret, op: o }));
}

function check(init: RegState, ops: readonly RegisterOp[], budget: number): WglResult {
  return checkLinearizable(registerModel(init), timed(ops), budget);
}

/** The history as known at time t: later calls vanish, results not yet returned become unknown. */
function truncate(ops: readonly RegisterOp[], t: number): RegisterOp[] {
  const out: RegisterOp[] = [];
  for (const o of ops) {
    if (o.call > t) continue;
    if (o.outcome === 'ok' && o.ret > t) {
      if (o.f === 'read') continue;
      const { result: _result, ...rest } = o;
      out.push({ ...rest, outcome: 'info', ret: Infinity });
    } else out.push(o);
  }
  return out;
}

/** Operations from the quiescent time t0 on: completed-before-t0 operations are dropped. */
function from(ops: readonly RegisterOp[], t0: number): RegisterOp[] {
  return ops.filter((o) => o.outcome === 'info' || o.ret > t0);
}

function quiescent(ops: readonly RegisterOp[], t: number): boolean {
  return ops.every((o) => o.outcome === 'info' || o.ret <= t || o.call > t);
}

function smallestWindow(
  init: RegState,
  ops: readonly RegisterOp[],
  budget: number,
): { window: readonly RegisterOp[]; fromUnknown: boolean } {
  const fails = (s: RegState, h: readonly RegisterOp[]): boolean => check(s, h, budget).type === 'illegal';
  const rets = [...new Set(ops.filter((o) => o.outcome === 'ok').map((o) => o.ret))].sort((a, b) => a - b);
  // Earliest failing end: binary search, then confirm (failing is monotone in t up to budget noise).
  let lo = 0;
  let hi = rets.length - 1;
  let end: readonly RegisterOp[] = ops;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const h = truncate(ops, rets[mid] as number);
    if (fails(init, h)) {
      end = h;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  // Latest quiescent start that still fails from an unknown state.
  const starts = [...new Set(end.filter((o) => o.outcome === 'ok').map((o) => o.ret))]
    .filter((t) => quiescent(end, t))
    .sort((a, b) => b - a);
  for (const t0 of starts) {
    const w = from(end, t0);
    if (w.length < end.length && fails(UNKNOWN, w)) return { window: w, fromUnknown: true };
  }
  return { window: end, fromUnknown: false };
}

/**
 * Checks every key's sub-history against a register that starts at `init(key)`.
 * `budget` bounds the search steps per key.
 */
export function checkRegisters(
  history: readonly RegisterOp[],
  init: (key: string) => RegState,
  budget = 2_000_000,
): LinearizabilityReport {
  const byKey = new Map<string, RegisterOp[]>();
  const kept = relevant(history);
  for (const o of kept) {
    const l = byKey.get(o.key);
    if (l) l.push(o);
    else byKey.set(o.key, [o]);
  }
  const failures: KeyVerdict[] = [];
  const undecided: string[] = [];
  for (const [key, ops] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const r = check(init(key), ops, budget);
    if (r.type === 'budget') undecided.push(key);
    if (r.type !== 'illegal') continue;
    const w = smallestWindow(init(key), ops, budget);
    failures.push({
      key,
      ops: ops.length,
      result: r.type,
      window: w.window,
      windowFromUnknownState: w.fromUnknown,
    });
  }
  return {
    valid: failures.length === 0 && undecided.length === 0,
    checked: kept.length,
    keys: byKey.size,
    failures,
    undecided,
  };
}
