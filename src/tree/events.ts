/**
 * Changes as events, produced at apply time (etcd's watchable store). One event per changed
 * node, in apply order. A parent's children change is implied by the child's event: the watch
 * layer derives CHILDREN notifications from the child path.
 */
import type { Acl } from './acl.js';
import type { ZPath } from './path.js';
import type { Stat } from './stat.js';

export type TreeEventType = 'created' | 'updated' | 'deleted';

export interface TreeEvent {
  readonly type: TreeEventType;
  readonly path: ZPath;
  /** The revision (log index) of the entry that made the change. */
  readonly revision: number;
  /** The node's data after the change; for 'deleted', its last data. Do not mutate. */
  readonly data: Uint8Array;
  /** The node's stat after the change; for 'deleted', its last stat. */
  readonly stat: Stat;
  /** The node's ACL when the event happened, so delivery can check the watcher may READ it. */
  readonly acl: Acl;
}

/** Rough heap cost of an event, for byte-bounded buffers. */
export function eventSize(e: TreeEvent): number {
  return 160 + e.path.length * 2 + e.data.length;
}
