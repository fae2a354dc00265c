/** The proto's Stat (arbor.v1.Stat), as plain numbers; ephemeralOwner is a session id. */
import type { Znode } from './znode.js';

export interface Stat {
  readonly createdRevision: number;
  readonly modifiedRevision: number;
  readonly childrenRevision: number;
  readonly version: number;
  readonly childrenVersion: number;
  readonly createdMs: number;
  readonly modifiedMs: number;
  /** 0n when the node is not ephemeral. */
  readonly ephemeralOwner: bigint;
  readonly dataLength: number;
  readonly numChildren: number;
  /** Changes of the node's ACL (ZooKeeper's aversion). */
  readonly aclVersion: number;
}

/** A snapshot of the node's stat (znodes are mutated in place, so never hand out the node). */
export function statOf(n: Znode): Stat {
  return {
    createdRevision: n.createdRevision,
    modifiedRevision: n.modifiedRevision,
    childrenRevision: n.childrenRevision,
    version: n.version,
    childrenVersion: n.childrenVersion,
    createdMs: n.createdMs,
    modifiedMs: n.modifiedMs,
    ephemeralOwner: n.ephemeralOwner,
    dataLength: n.data.length,
    numChildren: n.numChildren,
    aclVersion: n.aclVersion,
  };
}
