/**
 * Boundary failures of the member, each with a literal code. The api layer maps codes to gRPC
 * status in one place (src/api/status.ts). "Definitely not applied" (unavailable, invalid) and
 * "outcome unknown" (a write whose fate the member cannot know) are different answers.
 */
export type MemberErrorCode =
  | 'invalidArgument'
  | 'unavailable'
  /** Peer-internal: the member asked is not the leader; the request was definitely not applied. */
  | 'notLeader'
  | 'outcomeUnknown'
  | 'deadlineExceeded'
  | 'resourceExhausted'
  | 'notFound'
  | 'failedPrecondition'
  | 'alreadyExists'
  | 'outOfRange'
  | 'cancelled'
  /** No valid credentials (bad or expired token): authenticate again. */
  | 'unauthenticated'
  /** Authenticated, but the identity lacks a permission or role. */
  | 'permissionDenied'
  | 'internal';

export class MemberError extends Error {
  override readonly name = 'MemberError';
  /** For unavailable: the leader this member knows of (0 if none), so a client may go there. */
  readonly leaderHint: number;
  /** For Multi: index of the failing op, -1 otherwise. */
  readonly failedOp: number;
  /** For outOfRange on a watch: the oldest revision still available. */
  readonly compactRevision: number;

  constructor(
    readonly code: MemberErrorCode,
    message: string,
    extra: { leaderHint?: number; failedOp?: number; compactRevision?: number } = {},
  ) {
    super(message);
    this.leaderHint = extra.leaderHint ?? 0;
    this.failedOp = extra.failedOp ?? -1;
    this.compactRevision = extra.compactRevision ?? 0;
  }
}

export const unavailable = (message: string, leaderHint = 0): MemberError =>
  new MemberError('unavailable', message, { leaderHint });

/**
 * gRPC status code numbers (google.rpc.Code) for member errors, shared by the public API and the
 * peer channel. The server layer does not import grpc; the numbers are the wire contract.
 */
export const GRPC_CODE: Readonly<Record<MemberErrorCode, number>> = {
  cancelled: 1,
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  alreadyExists: 6,
  resourceExhausted: 8,
  failedPrecondition: 9,
  // Only between members: ABORTED marks "not the leader, not applied" so forwarding can retry.
  notLeader: 10,
  outOfRange: 11,
  permissionDenied: 7,
  unauthenticated: 16,
  internal: 13,
  unavailable: 14,
  outcomeUnknown: 4,
};

export function memberErrorFromGrpc(code: number, message: string, leaderHint = 0): MemberError {
  switch (code) {
    case 1:
      return new MemberError('cancelled', message);
    case 3:
      return new MemberError('invalidArgument', message);
    case 4:
      return new MemberError('deadlineExceeded', message, { leaderHint });
    case 5:
      return new MemberError('notFound', message);
    case 6:
      return new MemberError('alreadyExists', message);
    case 8:
      return new MemberError('resourceExhausted', message);
    case 9:
      return new MemberError('failedPrecondition', message);
    case 10:
      return new MemberError('notLeader', message, { leaderHint });
    case 11:
      return new MemberError('outOfRange', message);
    case 13:
      return new MemberError('internal', message);
    case 7:
      return new MemberError('permissionDenied', message);
    case 16:
      return new MemberError('unauthenticated', message);
    default:
      return new MemberError('unavailable', message, { leaderHint });
  }
}
