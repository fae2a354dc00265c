/** Public surface of the Raft core for the server. */
export { RawNode } from './raw-node.js';
export type {
  Ready,
  EarlyReady,
  RaftStatus,
  PeerProgress,
  RaftConfig,
  ProposeError,
  StepError,
} from './raw-node.js';
export { MemoryStorage } from './memory-storage.js';
export type { Message, MessageType } from './messages.js';
export {
  encodeMessage,
  decodeMessage,
  encodeEntry,
  decodeEntry,
  encodeSnapshot,
  decodeSnapshot,
  encodeSnapshotMeta,
  decodeSnapshotMetaBytes,
} from './codec.js';
export { describeMessage, describeReady } from './describe.js';
export { encodeConfChange, decodeConfChange, applyToConf, validateConfChange } from './conf-change.js';
export * from './types.js';
