/**
 * The versioned register (a znode's data and version) as a sequential specification, over
 * *sets* of partial states so that uncertainty needs no backtracking in the search:
 * - an info cas may or may not have applied → both states are kept;
 * - a window cut from the middle of a history starts from an unknown state (value and version
 *   unknown), which the first observation pins down.
 */
import type { RegisterOp } from './history.js';
import type { Model } from './wgl.js';

/** A partial state: null means "not known yet" (only in windows that start mid-history). */
export interface RegState {
  readonly value: string | null;
  readonly version: number | null;
}

export type RegStates = readonly RegState[];

const enc = (s: RegState): string => `${s.version ?? '?'}\u0000${s.value ?? '\u0001'}`;

function dedupe(states: RegState[]): RegState[] {
  const m = new Map<string, RegState>();
  for (const s of states) m.set(enc(s), s);
  return [...m.values()];
}

function stepOne(s: RegState, op: RegisterOp): RegState[] {
  const value = op.value ?? null;
  switch (op.f) {
    case 'read': {
      const r = op.result ?? {};
      if (r.value === undefined || r.version === undefined) return [s];
      if (s.value !== null && s.value !== r.value) return [];
      if (s.version !== null && s.version !== r.version) return [];
      return [{ value: r.value, version: r.version }];
    }
    case 'write': {
      const next = s.version === null ? null : s.version + 1;
      if (op.outcome === 'ok' && op.result?.version !== undefined) {
        if (next !== null && next !== op.result.version) return [];
        return [{ value, version: op.result.version }];
      }
      return [{ value, version: next }];
    }
    case 'cas': {
      const exp = op.expected as number;
      const canApply = s.version === null || s.version === exp;
      const canRefuse = s.version === null || s.version !== exp;
      const applied: RegState = { value, version: exp + 1 };
      if (op.outcome === 'info') return [...(canApply ? [applied] : []), s];
      if (op.result?.applied === false) return canRefuse ? [s] : [];
      if (!canApply) return [];
      if (op.result?.version !== undefined && op.result.version !== exp + 1) return [];
      return [applied];
    }
  }
}

export function registerModel(init: RegState): Model<RegStates, RegisterOp> {
  return {
    init: [init],
    step(states, op) {
      const next = dedupe(states.flatMap((s) => stepOne(s, op)));
      return next.length === 0 ? undefined : next;
    },
    key(states) {
      return states.map(enc).sort().join('\u0002');
    },
  };
}

export const UNKNOWN: RegState = { value: null, version: null };
