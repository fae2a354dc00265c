/**
 * The seams the member drives (hashicorp/raft style): durable storage and peer transport are
 * named interfaces here, implemented by src/storage and src/transport and wired in main.ts.
 * The member never imports an adapter.
 */
import type { LogIndex, NodeId } from '../util/brand.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../raft/types.js';

export interface AppliedMeta {
  readonly index: LogIndex;
  readonly term: number;
  readonly conf: ConfState;
  /** Opaque member-level state persisted with the applied index (the member address book). */
  readonly extra?: Uint8Array;
}

export interface Mutation {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

export interface SnapshotReaderPort {
  readonly meta: AppliedMeta;
  chunks(maxChunkBytes?: number): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
}

export interface SnapshotInstallerPort {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface StoragePort {
  loadRaft(): Promise<{ hardState: HardState; snapshotMeta: SnapshotMeta; entries: Entry[] }>;
  /** `sync: false` only when nothing but the commit index changed (it can be recomputed). */
  persist(p: { hardState?: HardState; entries?: readonly Entry[] }, sync?: boolean): Promise<void>;
  compactLog(upTo: LogIndex): Promise<void>;
  loadApplied(): Promise<AppliedMeta>;
  readRecords(): AsyncIterable<[Uint8Array, Uint8Array]>;
  /** The same records in read batches (restoring a large tree awaits once per batch). */
  readRecordBatches(): AsyncIterable<[Uint8Array, Uint8Array][]>;
  commitApply(meta: AppliedMeta, mutations: readonly Mutation[]): Promise<void>;
  openSnapshot(): Promise<SnapshotReaderPort>;
  beginInstall(meta: AppliedMeta): Promise<SnapshotInstallerPort>;
  close(): Promise<void>;
}

export interface PeerHandlerPort {
  onMessages(from: NodeId, messages: Uint8Array[]): void;
  onSnapshot(from: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  onForward(from: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
}

export interface TransportPort {
  start(): Promise<void>;
  stop(): Promise<void>;
  setPeers(peers: ReadonlyMap<NodeId, string>): void;
  send(to: NodeId, message: Uint8Array): void;
  sendSnapshot(to: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  forward(to: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
  onUnreachable: ((id: NodeId) => void) | undefined;
}

/** Counters and timings the member reports (Prometheus in src/api/metrics.ts); no-ops by default. */
export interface MemberMetrics {
  /** This member saw the leader change (to another member or to none). */
  leaderChanged(): void;
  /** A proposal this member made (or forwarded) was committed and applied. */
  proposalCommitted(): void;
  /** A proposal failed before commit: dropped, leadership lost, deadline, ... */
  proposalFailed(reason: string): void;
  /** A write this member proposed was refused at apply: an earlier write of its client had not applied. */
  writeOutOfOrder(): void;
  /** Seconds from proposing an entry to seeing it committed (on the leader). */
  commitLatency(seconds: number): void;
  /** Seconds to apply one batch of committed entries until its records are written (unsynced; they may wait for the next synced batch). */
  applyLatency(seconds: number): void;
  /** Seconds one synced storage batch took (the fsync of the LevelDB log). */
  fsyncLatency(seconds: number): void;
  /** A snapshot was created (log compaction), sent to a follower, or installed from the leader. */
  snapshot(kind: 'created' | 'sent' | 'installed'): void;
}

export const NO_MEMBER_METRICS: MemberMetrics = {
  leaderChanged: () => undefined,
  proposalCommitted: () => undefined,
  proposalFailed: () => undefined,
  writeOutOfOrder: () => undefined,
  commitLatency: () => undefined,
  applyLatency: () => undefined,
  fsyncLatency: () => undefined,
  snapshot: () => undefined,
};
