/**
 * Histories that are linearizable by construction: every operation takes effect at a random
 * instant between its call and its return on a true register, and info outcomes hide results.
 */
import { seededRng } from '../../../src/util/rng.js';
import type { RegisterOp } from './history.js';

export const INIT = 'init';

export function linearizableHistory(opts: {
  seed: number;
  keys: number;
  processes: number;
  opsPerProcess: number;
  infoRate?: number;
}): RegisterOp[] {
  const rng = seededRng(opts.seed);
  type Pending = {
    op: Omit<RegisterOp, 'outcome' | 'result' | 'ret'>;
    at: number;
    ret: number;
    info: boolean;
  };
  const pending: Pending[] = [];
  let id = 0;
  for (let p = 0; p < opts.processes; p++) {
    let t = rng.int(10);
    for (let i = 0; i < opts.opsPerProcess; i++) {
      const call = t + 1 + rng.int(5);
      const ret = call + 1 + rng.int(30);
      const at = call + rng.float() * (ret - call);
      const key = `k${rng.int(opts.keys)}`;
      const r = rng.int(3);
      const f = r === 0 ? 'read' : r === 1 ? 'write' : 'cas';
      const info = f !== 'read' && rng.float() < (opts.infoRate ?? 0.02);
      const base = { id: id++, process: `p${p}`, key, f, call } as const;
      const op =
        f === 'read'
          ? base
          : f === 'write'
            ? { ...base, value: `v${id}` }
            : { ...base, value: `v${id}`, expected: rng.int(4) };
      // An info op may never take effect at all.
      pending.push({ op, at: info && rng.int(2) === 0 ? Infinity : at, ret, info });
      t = ret;
    }
  }
  const reg = new Map<string, { value: string; version: number }>();
  const out: RegisterOp[] = [];
  for (const p of [...pending].sort((a, b) => a.at - b.at)) {
    const cur = reg.get(p.op.key) ?? { value: INIT, version: 0 };
    const done = (result: RegisterOp['result']): void => {
      if (p.info) out.push({ ...p.op, outcome: 'info', ret: Infinity });
      else out.push({ ...p.op, outcome: 'ok', ret: p.ret, ...(result ? { result } : {}) });
    };
    if (p.at === Infinity) {
      done(undefined);
      continue;
    }
    if (p.op.f === 'read') done({ value: cur.value, version: cur.version });
    else if (p.op.f === 'write') {
      reg.set(p.op.key, { value: p.op.value as string, version: cur.version + 1 });
      done({ version: cur.version + 1 });
    } else if (cur.version === p.op.expected) {
      reg.set(p.op.key, { value: p.op.value as string, version: cur.version + 1 });
      done({ applied: true, version: cur.version + 1 });
    } else done({ applied: false });
  }
  return out.sort((a, b) => a.id - b.id);
}
