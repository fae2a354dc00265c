/**
 * Sequential znodes: the parent's counter is part of the linearizable state, so names are unique
 * per parent and increase in real-time order (if create A completed before create B was called,
 * A's number is smaller), as ZooKeeper's cversion-based numbering promises.
 */
import type { SequentialCreate } from './history.js';

/** The counter suffix ZooKeeper-style names end with (ten digits). */
export function seqNumber(name: string): number {
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : NaN;
}

export function checkSequential(creates: readonly SequentialCreate[]): string[] {
  const problems: string[] = [];
  const byParent = new Map<string, SequentialCreate[]>();
  for (const c of creates) {
    if (c.outcome !== 'ok') continue;
    const l = byParent.get(c.parent);
    if (l) l.push(c);
    else byParent.set(c.parent, [c]);
  }
  for (const [parent, list] of byParent) {
    const names = new Map<string, SequentialCreate>();
    for (const c of list) {
      const n = c.name as string;
      if (Number.isNaN(seqNumber(n))) problems.push(`${parent}: '${n}' has no sequence number`);
      const dup = names.get(n);
      if (dup) problems.push(`${parent}: name '${n}' handed out twice (calls at ${dup.call} and ${c.call})`);
      names.set(n, c);
    }
    // Sweep calls in time order, knowing the largest number among creates completed before.
    const byRet = [...list].sort((a, b) => a.ret - b.ret);
    const byCall = [...list].sort((a, b) => a.call - b.call);
    let i = 0;
    let maxDone = -Infinity;
    let maxName = '';
    for (const c of byCall) {
      while (i < byRet.length && (byRet[i] as SequentialCreate).ret < c.call) {
        const d = byRet[i] as SequentialCreate;
        if (seqNumber(d.name as string) > maxDone) {
          maxDone = seqNumber(d.name as string);
          maxName = d.name as string;
        }
        i++;
      }
      if (seqNumber(c.name as string) <= maxDone)
        problems.push(
          `${parent}: '${c.name}' (called at ${c.call}) is not above '${maxName}', which completed before it was called`,
        );
    }
  }
  return problems;
}

/** Every acknowledged create must be present in the final children list `present` of its parent. */
export function missingSequential(
  creates: readonly SequentialCreate[],
  present: ReadonlyMap<string, ReadonlySet<string>>,
): string[] {
  const out: string[] = [];
  for (const c of creates) {
    if (c.outcome !== 'ok') continue;
    if (!present.get(c.parent)?.has(c.name as string)) out.push(`${c.parent}/${c.name}`);
  }
  return out;
}
