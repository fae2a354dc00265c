/**
 * The one place where failures become gRPC statuses (grpc-js's boundary habit). Every handler
 * funnels whatever it caught through toStatus; a message always says what happened and, where
 * the caller can act, what to do.
 */
import * as grpc from '@grpc/grpc-js';
import { MemberError, GRPC_CODE } from '../server/errors.js';
import type { TreeError, TreeErrorCode } from '../tree/errors.js';
import { DecodeError } from '../util/bytes.js';

const TREE_CODE: Readonly<Record<TreeErrorCode, grpc.status>> = {
  noNode: grpc.status.NOT_FOUND,
  nodeExists: grpc.status.ALREADY_EXISTS,
  badVersion: grpc.status.FAILED_PRECONDITION,
  notEmpty: grpc.status.FAILED_PRECONDITION,
  noChildrenForEphemerals: grpc.status.FAILED_PRECONDITION,
  sessionExpired: grpc.status.FAILED_PRECONDITION,
  duplicateUnknown: grpc.status.FAILED_PRECONDITION,
  outOfOrder: grpc.status.ABORTED,
  invalidPath: grpc.status.INVALID_ARGUMENT,
  invalidArgument: grpc.status.INVALID_ARGUMENT,
  tooLarge: grpc.status.INVALID_ARGUMENT,
  limitExceeded: grpc.status.RESOURCE_EXHAUSTED,
  permissionDenied: grpc.status.PERMISSION_DENIED,
  noUser: grpc.status.NOT_FOUND,
  userExists: grpc.status.ALREADY_EXISTS,
  noAdmin: grpc.status.FAILED_PRECONDITION,
};

/** A tree outcome travelling as an exception through the handler plumbing. */
export class TreeFailure extends Error {
  override readonly name = 'TreeFailure';
  constructor(readonly error: TreeError) {
    super(error.message);
  }
}

export interface StatusInfo {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata;
  readonly failedOp: number;
  readonly compactRevision: number;
}

export function toStatus(e: unknown): StatusInfo {
  const metadata = new grpc.Metadata();
  if (e instanceof TreeFailure) {
    const failedOp = e.error.failedOp ?? -1;
    metadata.set('arbor-error', e.error.code);
    if (failedOp >= 0) metadata.set('arbor-failed-op', String(failedOp));
    return {
      code: TREE_CODE[e.error.code],
      details: e.error.message,
      metadata,
      failedOp,
      compactRevision: 0,
    };
  }
  if (e instanceof MemberError) {
    if (e.leaderHint) metadata.set('arbor-leader', String(e.leaderHint));
    if (e.compactRevision) metadata.set('arbor-compact-revision', String(e.compactRevision));
    metadata.set('arbor-error', e.code);
    // Outside the cluster "not the leader" is just UNAVAILABLE with a hint: clients never need to know who leads.
    const code = e.code === 'notLeader' ? grpc.status.UNAVAILABLE : (GRPC_CODE[e.code] as grpc.status);
    return { code, details: e.message, metadata, failedOp: e.failedOp, compactRevision: e.compactRevision };
  }
  if (e instanceof DecodeError) {
    return {
      code: grpc.status.INVALID_ARGUMENT,
      details: `malformed request: ${e.message}`,
      metadata,
      failedOp: -1,
      compactRevision: 0,
    };
  }
  const details = e instanceof Error ? `internal error: ${e.message}` : `internal error: ${String(e)}`;
  return { code: grpc.status.INTERNAL, details, metadata, failedOp: -1, compactRevision: 0 };
}

export function serviceError(info: StatusInfo): Partial<grpc.StatusObject> {
  return { code: info.code, details: info.details, metadata: info.metadata };
}

export const invalid = (message: string): MemberError => new MemberError('invalidArgument', message);
