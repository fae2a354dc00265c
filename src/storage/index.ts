/** The storage adapter's public surface (the server imports from here). */
export { ArborStore, type ArborStoreOptions } from './arbor-store.js';
export { StorageError, isStorageError, type StorageErrorCode } from './storage-error.js';
export { noFaults, type FaultPoints } from './fault-points.js';
export type {
  AppliedMeta,
  Mutation,
  RaftState,
  SnapshotInstaller,
  SnapshotReader,
  StoreStats,
} from './store-interface.js';
