/**
 * Watch streams against the committed history: within one member's log, events come in revision
 * order without duplicates; each key's versions step by exactly one (no gap: every committed
 * update was delivered) unless a compaction was reported; every event carries data some write
 * actually wrote (never a definitely-failed write's data); streams of different members agree on
 * what happened at each revision; and each stream reached the final state.
 */
import type { RegisterOp, WatchLog, WatchedEvent } from './history.js';

const describeEvent = (e: WatchedEvent): string => `${e.type} ${e.path} v${e.version} @${e.revision}`;

export function checkWatches(
  logs: readonly WatchLog[],
  history: readonly RegisterOp[],
  /** path → final version (read on every member after the run). */
  finalVersions: ReadonlyMap<string, number>,
  pathOf: (key: string) => string,
  /** The data a register holds before the first write. */
  initialData: string,
): string[] {
  const problems: string[] = [];
  // What could legitimately be in a register: initial data and every write not known to have failed.
  const written = new Map<string, Set<string>>();
  const failed = new Map<string, Set<string>>();
  for (const o of history) {
    if (o.f === 'read' || o.value === undefined) continue;
    const definitelyNot = o.outcome === 'fail' || (o.f === 'cas' && o.result?.applied === false);
    const m = definitelyNot ? failed : written;
    const p = pathOf(o.key);
    const s = m.get(p) ?? new Set<string>();
    s.add(o.value);
    m.set(p, s);
  }
  const atRevision = new Map<string, { member: number; event: string }>();
  /** path → the revision at which some stream saw it reach its final version. */
  const finalAt = new Map<string, number>();
  const tailCompacted: { member: number; from: number }[] = [];
  for (const log of logs) {
    const lastVersion = new Map<string, number>();
    let lastRevision = 0;
    const seen = new Set<string>();
    const compactions = new Set(log.compactions);
    const streamOf = (i: number): string => {
      const st = [...(log.streams ?? [])].reverse().find((x) => x.index <= i);
      return st
        ? ` (in the stream opened with start_revision ${st.startRevision}, its event #${i - st.index})`
        : '';
    };
    log.events.forEach((e, i) => {
      if (compactions.has(i)) lastVersion.clear();
      const id = `${e.revision}|${e.path}`;
      if (seen.has(id)) problems.push(`m${log.member}: duplicate event ${describeEvent(e)}${streamOf(i)}`);
      seen.add(id);
      if (e.revision < lastRevision)
        problems.push(`m${log.member}: ${describeEvent(e)} arrived after revision ${lastRevision}`);
      lastRevision = Math.max(lastRevision, e.revision);
      const prev = lastVersion.get(e.path);
      if (e.type === 'UPDATED' && prev !== undefined && e.version !== prev + 1)
        problems.push(`m${log.member}: ${describeEvent(e)} follows version ${prev} (gap or reorder)`);
      lastVersion.set(e.path, e.version);
      if (e.version === finalVersions.get(e.path)) finalAt.set(e.path, e.revision);
      if (e.type !== 'DELETED' && e.data !== initialData && !written.get(e.path)?.has(e.data)) {
        const why = failed.get(e.path)?.has(e.data) ? 'a write that definitely failed' : 'no write';
        problems.push(`m${log.member}: ${describeEvent(e)} carries data of ${why}: '${e.data}'`);
      }
      const key = `${e.revision}|${e.path}`;
      const body = `${e.type}|${e.version}|${e.data}`;
      const other = atRevision.get(key);
      if (other && other.event !== body)
        problems.push(
          `m${log.member} and m${other.member} disagree at revision ${e.revision} on ${e.path}: ${body} vs ${other.event}`,
        );
      else if (!other) atRevision.set(key, { member: log.member, event: body });
    });
    // A compaction reported after the last event (typically: the member was wiped and rejoined
    // from a snapshot near the end of the run) excuses the updates up to the revision the stream
    // was reopened at, not the ones after it (checked below, once every stream is known).
    if (log.compactions.some((i) => i >= log.events.length)) {
      lastVersion.clear();
      tailCompacted.push({ member: log.member, from: log.streams?.at(-1)?.startRevision ?? 0 });
    }
    for (const [p, v] of finalVersions) {
      const got = lastVersion.get(p);
      if (got !== undefined && got !== v)
        problems.push(`m${log.member}: the stream ends at ${p} v${got}, the final version is v${v}`);
      if (got === undefined && v > 0 && log.events.length > 0 && compactions.size === 0)
        problems.push(`m${log.member}: no event for ${p} although it reached v${v}`);
    }
  }
  for (const { member, from } of tailCompacted)
    for (const [p, rev] of finalAt)
      if (rev >= from)
        problems.push(
          `m${member}: the stream reopened at revision ${from} after a compaction but never got ${p} v${finalVersions.get(p)} @${rev}`,
        );
  return problems;
}
