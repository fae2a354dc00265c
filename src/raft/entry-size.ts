import type { Entry } from './types.js';

/** Bytes an entry costs against maxSizePerMsg: payload plus a fixed allowance for the header. */
export const ENTRY_OVERHEAD = 16;

export function entrySize(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD;
}

/** Total payload bytes (what maxUncommittedEntriesSize counts, as in etcd). */
export function payloadSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.length;
  return n;
}

/**
 * The longest prefix of `ents` whose total size is <= maxBytes, but always at least one entry
 * so a single oversized entry can still make progress. Returns `ents` itself when nothing is cut.
 */
export function limitSize<T extends readonly Entry[]>(ents: T, maxBytes: number): T {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0] as Entry);
  for (let i = 1; i < ents.length; i++) {
    size += entrySize(ents[i] as Entry);
    if (size > maxBytes) return ents.slice(0, i) as unknown as T;
  }
  return ents;
}
