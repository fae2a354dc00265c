/**
 * One znode. Kept small because a member holds a million of them (ZooKeeper's DataNode):
 * the children set is allocated on the first child, and leaf payloads share EMPTY.
 */
import { OPEN_ACL, type Acl } from './acl.js';

export type ZnodeKind = 'persistent' | 'ephemeral' | 'container' | 'ttl';

export const EMPTY = new Uint8Array(0);
export const NO_OWNER = 0n;

export class Znode {
  /** Owned by the tree (copied in at apply); callers of get() must not mutate it. */
  data: Uint8Array;
  /** Child names (not paths). null until the first child; sorted only on read. */
  children: Set<string> | null = null;
  /** Revision of the create. */
  createdRevision: number;
  /** Revision of the last create/set of this node. */
  modifiedRevision: number;
  /** Revision of the last child create/delete (ZooKeeper's pzxid); = createdRevision initially. */
  childrenRevision: number;
  /** Invariant: incremented by exactly one on every set; starts at 0. */
  version = 0;
  /** Invariant: incremented by exactly one on every child create/delete; starts at 0. */
  childrenVersion = 0;
  createdMs: number;
  modifiedMs: number;
  /** Session id owning an ephemeral; NO_OWNER otherwise. */
  ephemeralOwner: bigint;
  kind: ZnodeKind;
  /** For kind 'ttl': ms after the last modification at which an empty node may be swept; else 0. */
  ttlMs: number;
  /**
   * Counter for sequential children: the next suffix. Only ever grows, so a name is never
   * reused even after its node is deleted (ZooKeeper uses the parent's cversion instead).
   */
  seq = 0;
  /** Shared, never mutated: children inherit their parent's array, so a million nodes hold few ACLs. */
  acl: Acl = OPEN_ACL;
  /** Invariant: incremented by exactly one on every setAcl; starts at 0 (ZooKeeper's aversion). */
  aclVersion = 0;

  constructor(
    kind: ZnodeKind,
    data: Uint8Array,
    revision: number,
    timeMs: number,
    ephemeralOwner: bigint,
    ttlMs: number,
  ) {
    this.kind = kind;
    this.data = data;
    this.createdRevision = revision;
    this.modifiedRevision = revision;
    this.childrenRevision = revision;
    this.createdMs = timeMs;
    this.modifiedMs = timeMs;
    this.ephemeralOwner = ephemeralOwner;
    this.ttlMs = ttlMs;
  }

  get numChildren(): number {
    return this.children === null ? 0 : this.children.size;
  }
}
