/**
 * Bounds the tree enforces. Every replica must use the same limits: they decide whether a
 * command fails, so a mismatch would make replicas diverge (the server passes one config).
 */
export interface TreeLimits {
  /** Largest znode payload (ZooKeeper's jute.maxbuffer is 1 MiB too). */
  readonly maxDataBytes: number;
  /** Largest path, in UTF-8 bytes. */
  readonly maxPathBytes: number;
  /** Most segments in a path ('/' has depth 0). */
  readonly maxDepth: number;
  /** Most children of one znode. */
  readonly maxChildren: number;
  /** Most ops in one multi. */
  readonly maxMultiOps: number;
  /** Longest client id of an exactly-once header, in UTF-8 bytes. */
  readonly maxClientIdBytes: number;
  /** Cached results kept per client (Raft dissertation §6.3); older ones are forgotten. */
  readonly maxResultsPerClient: number;
  /** A client unseen for this long (by envelope time) is forgotten with its cached results. */
  readonly clientIdleMs: number;
  /** Longest session timeout a client may ask for. */
  readonly maxSessionTimeoutMs: number;
  /** Longest TTL of a PERSISTENT_WITH_TTL znode. */
  readonly maxTtlMs: number;
  /** Most session ids / sweep targets in one leader-decided command. */
  readonly maxBatch: number;
}

export const DEFAULT_TREE_LIMITS: TreeLimits = Object.freeze({
  maxDataBytes: 1_048_576,
  maxPathBytes: 4096,
  maxDepth: 256,
  maxChildren: 1_000_000,
  maxMultiOps: 1000,
  maxClientIdBytes: 256,
  maxResultsPerClient: 1024,
  clientIdleMs: 60 * 60 * 1000,
  maxSessionTimeoutMs: 24 * 60 * 60 * 1000,
  maxTtlMs: 365 * 24 * 60 * 60 * 1000,
  maxBatch: 10_000,
});

/** Defaults overridden by `overrides`. */
export function treeLimits(overrides: Partial<TreeLimits> = {}): TreeLimits {
  return Object.freeze({ ...DEFAULT_TREE_LIMITS, ...overrides });
}
