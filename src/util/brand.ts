/**
 * Branded primitives: units that must never be mixed (a term is not an index, a session id
 * is not a node id). Validate once at the boundary with the constructor functions, then trust.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A Raft member id. 0 means "none" (no vote, no known leader). */
export type NodeId = Brand<number, 'NodeId'>;
/** A Raft term. Invariant: never decreases on a member. */
export type Term = Brand<number, 'Term'>;
/** A position in the Raft log (1-based; 0 is "before the first entry"). */
export type LogIndex = Brand<number, 'LogIndex'>;
/** The global revision of the tree: the log index of the entry that made a change. */
export type Revision = Brand<number, 'Revision'>;
/** A session id, fixed by the log index of the entry that opened it. */
export type SessionId = Brand<bigint, 'SessionId'>;

export const NO_NODE = 0 as NodeId;

export const nodeId = (n: number): NodeId => n as NodeId;
export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;
export const revision = (n: number): Revision => n as Revision;
export const sessionId = (n: bigint): SessionId => n as SessionId;
