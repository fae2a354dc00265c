/** The tree's public surface, for the server and api layers. */
export * from './commands.js';
export { encodeEnvelope, decodeEnvelope } from './command-codec.js';
export { encodeResult, decodeResult } from './result-codec.js';
export * from './errors.js';
export * from './limits.js';
export * from './path.js';
export { statOf, type Stat } from './stat.js';
export type * from './results.js';
export { eventSize, type TreeEvent, type TreeEventType } from './events.js';
export { DataTree, type ApplyOutcome, type Mutation } from './data-tree.js';
export type { SessionInfo } from './sessions.js';
export { validateCommand, validateEnvelope } from './validate.js';
export { WatchIndex, type WatchScope } from './watch-index.js';
export { EventLog, type EventLogOptions } from './event-log.js';
