/**
 * Peer messages of the Raft core: a union tagged on `type` (etcd-io/raft's raftpb.Message, split
 * per kind so each carries only its own fields). Every message names its sender, its receiver and
 * the sender's term; the receiver's term rules (§5.1, Figure 2 "Rules for all servers") run before
 * any kind-specific handling. Local requests (propose, tick, campaign...) are RawNode methods,
 * not messages, so nothing local ever crosses the wire.
 */
import type { LogIndex, NodeId, Term } from '../util/brand.js';
import type { Entry, Snapshot } from './types.js';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** AppendEntries (§5.3). `index`/`logTerm` name the entry just before `entries`. */
export interface AppMsg extends Envelope {
  readonly type: 'app';
  readonly index: LogIndex;
  readonly logTerm: Term;
  /** Consecutive entries starting at index + 1. A view into the leader's log: never mutate. */
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
  /**
   * A new commit index and no entries, for a follower in replicate state that has been sent
   * every entry up to `index`: the follower does not answer when it accepts it, since the
   * answers to those earlier appends tell the leader all this one would (a follower that lost
   * them rejects this, and rejections are answered; an answer that was lost shows as a stale
   * match in the leader's view, and the append it then sends after a heartbeat is not
   * commit-only). Saves a message per follower per commit.
   */
  readonly commitOnly: boolean;
}

/**
 * Reply to app and snap. Accepted: `index` is the follower's last index known to match.
 * Rejected: `index` echoes the rejected app's index and (`rejectHint`, `logTerm`) is the
 * follower's guess of the last entry that may match: the largest index <= min(index, lastIndex)
 * whose term is <= the app's logTerm (fast backtracking, dissertation §5.3 / etcd findConflictByTerm).
 */
export interface AppRespMsg extends Envelope {
  readonly type: 'appResp';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly rejectHint: LogIndex;
  readonly logTerm: Term;
}

/**
 * RequestVote (§5.2) and its Pre-Vote twin (dissertation §9.6). For preVote, `term` is the term
 * the sender WOULD campaign in; the sender's own term is not changed by pre-voting.
 * `transfer` marks a campaign started by TimeoutNow: it bypasses the leader lease (§6.4.1/§3.10).
 */
export interface VoteMsg extends Envelope {
  readonly type: 'vote' | 'preVote';
  /** The candidate's last log index and term (up-to-date check, §5.4.1). */
  readonly index: LogIndex;
  readonly logTerm: Term;
  readonly transfer: boolean;
}

export interface VoteRespMsg extends Envelope {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

/**
 * Leader heartbeat. `commit` is min(leader commit, follower match) so a follower never commits
 * past what it is known to hold. `readSeq` (0 = none) is the newest ReadIndex round the leader
 * had opened when it sent this heartbeat; the echo in heartbeatResp confirms leadership for it.
 */
export interface HeartbeatMsg extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: LogIndex;
  readonly readSeq: number;
}

export interface HeartbeatRespMsg extends Envelope {
  readonly type: 'heartbeatResp';
  readonly readSeq: number;
}

/** InstallSnapshot (§7). The meta is authoritative; data may be empty (streamed separately). */
export interface SnapMsg extends Envelope {
  readonly type: 'snap';
  readonly snapshot: Snapshot;
}

/** A follower forwards a linearizable read to its leader (§6.4). */
export interface ReadIndexMsg extends Envelope {
  readonly type: 'readIndex';
  readonly ctx: Uint8Array;
}

/** The leader's answer: the read is safe once the follower has applied `index`. */
export interface ReadIndexRespMsg extends Envelope {
  readonly type: 'readIndexResp';
  readonly index: LogIndex;
  readonly ctx: Uint8Array;
}

/** Leadership transfer (dissertation §3.10): start an election now, skipping pre-vote. */
export interface TimeoutNowMsg extends Envelope {
  readonly type: 'timeoutNow';
}

export type Message =
  | AppMsg
  | AppRespMsg
  | VoteMsg
  | VoteRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | SnapMsg
  | ReadIndexMsg
  | ReadIndexRespMsg
  | TimeoutNowMsg;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [
  'app',
  'appResp',
  'vote',
  'voteResp',
  'preVote',
  'preVoteResp',
  'heartbeat',
  'heartbeatResp',
  'snap',
  'readIndex',
  'readIndexResp',
  'timeoutNow',
];
