/**
 * The Wing & Gong / Lowe linearizability search (WGL), with the memoization of Lowe's
 * "Testing for linearizability" (2016) and Porcupine: a configuration (which operations are
 * linearized, model state) is explored once. Pure: no I/O, no clocks.
 *
 * Operations whose outcome is unknown carry `ret = Infinity`: they may be linearized anywhere after
 * their call, and linearizing one after every other operation is the same as "it never happened"
 * (nothing observes it), so "took effect at any time or never" needs no special case.
 */

/**
 * A deterministic sequential specification. Non-determinism (an operation that may or may not
 * have applied) is folded into `S` by the model itself — the register model keeps a set of states.
 */
export interface Model<S, O> {
  readonly init: S;
  /** The state after `op`, or undefined when `op` cannot happen in state `s`. */
  step(s: S, op: O): S | undefined;
  /** A canonical key: equal keys ⇔ equal states (used for memoization). */
  key(s: S): string;
}

export interface TimedOp<O> {
  readonly call: number;
  /** Infinity when the outcome is unknown. Invariant: ret >= call. */
  readonly ret: number;
  readonly op: O;
}

export type WglResult =
  | { readonly type: 'ok' }
  /** No linearization exists. `deepest` is the largest set of operations that could be linearized. */
  | { readonly type: 'illegal'; readonly deepest: readonly number[] }
  /** The step budget ran out before an answer: neither pass nor fail. */
  | { readonly type: 'budget'; readonly steps: number };

interface Entry {
  readonly id: number;
  readonly isCall: boolean;
  /** For a call entry: its return entry. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

function buildList<O>(ops: readonly TimedOp<O>[]): Entry {
  const events: { time: number; isCall: boolean; id: number }[] = [];
  ops.forEach((o, id) => {
    events.push({ time: o.call, isCall: true, id });
    events.push({ time: o.ret, isCall: false, id });
  });
  // At equal times a call sorts before a return: the two operations count as concurrent, the
  // weaker (safe) reading of a tie.
  events.sort((a, b) =>
    a.time !== b.time ? a.time - b.time : a.isCall !== b.isCall ? (a.isCall ? -1 : 1) : a.id - b.id,
  );
  const head: Entry = { id: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  const calls = new Map<number, Entry>();
  let last = head;
  for (const e of events) {
    const entry: Entry = { id: e.id, isCall: e.isCall, match: undefined, prev: last, next: undefined };
    if (e.isCall) calls.set(e.id, entry);
    else (calls.get(e.id) as Entry).match = entry;
    last.next = entry;
    last = entry;
  }
  return head;
}

function lift(e: Entry): void {
  (e.prev as Entry).next = e.next;
  if (e.next) e.next.prev = e.prev;
  const m = e.match as Entry;
  (m.prev as Entry).next = m.next;
  if (m.next) m.next.prev = m.prev;
}

function unlift(e: Entry): void {
  const m = e.match as Entry;
  (m.prev as Entry).next = m;
  if (m.next) m.next.prev = m;
  (e.prev as Entry).next = e;
  if (e.next) e.next.prev = e;
}

/** Decides whether `ops` is linearizable with respect to `model`. */
export function checkLinearizable<S, O>(
  model: Model<S, O>,
  ops: readonly TimedOp<O>[],
  maxSteps = 5_000_000,
): WglResult {
  const head = buildList(ops);
  const words = Math.ceil(ops.length / 32) || 1;
  const linearized = new Uint32Array(words);
  const seen = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init;
  let entry = head.next;
  let steps = 0;
  let deepest: number[] = [];
  while (head.next !== undefined) {
    if (++steps > maxSteps) return { type: 'budget', steps };
    const e = entry as Entry;
    if (e.isCall) {
      const next = model.step(state, (ops[e.id] as TimedOp<O>).op);
      let advanced = false;
      if (next !== undefined) {
        linearized[e.id >>> 5] = (linearized[e.id >>> 5] as number) | (1 << (e.id & 31));
        const key = `${linearized.join(',')}|${model.key(next)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry: e, state });
          state = next;
          lift(e);
          entry = head.next;
          advanced = true;
          if (stack.length > deepest.length) deepest = stack.map((s) => s.entry.id);
        } else {
          linearized[e.id >>> 5] = (linearized[e.id >>> 5] as number) & ~(1 << (e.id & 31));
        }
      }
      if (!advanced) entry = e.next;
    } else {
      // A return whose call is not yet linearized: this branch is dead; backtrack.
      const top = stack.pop();
      if (top === undefined) return { type: 'illegal', deepest };
      state = top.state;
      const id = top.entry.id;
      linearized[id >>> 5] = (linearized[id >>> 5] as number) & ~(1 << (id & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { type: 'ok' };
}
