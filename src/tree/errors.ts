/**
 * Expected failures of tree commands, as values (STYLE.md habit 4). The api layer maps codes to
 * gRPC status: noNode→NOT_FOUND, nodeExists→ALREADY_EXISTS, badVersion/notEmpty/
 * noChildrenForEphemerals/sessionExpired/duplicateUnknown→FAILED_PRECONDITION, outOfOrder→ABORTED,
 * invalidPath/invalidArgument/tooLarge→INVALID_ARGUMENT, limitExceeded→RESOURCE_EXHAUSTED,
 * permissionDenied→PERMISSION_DENIED, noUser→NOT_FOUND, userExists→ALREADY_EXISTS, noAdmin→FAILED_PRECONDITION.
 */
export const TREE_ERROR_CODES = [
  'noNode',
  'nodeExists',
  'badVersion',
  'notEmpty',
  'noChildrenForEphemerals',
  'sessionExpired',
  'invalidPath',
  'invalidArgument',
  'tooLarge',
  'limitExceeded',
  // A retry whose cached result was already forgotten (acknowledged, evicted by the per-client
  // cap): the command WAS applied once, but its answer is gone (Raft dissertation §6.3).
  'duplicateUnknown',
  // A request that would apply out of the order its client sent it in (an earlier request of
  // the same client is still unanswered, or a later one already applied). Not applied: the
  // client retries in order. This is what keeps per-client FIFO across leader changes.
  'outOfOrder',
  // The caller's identity lacks the permission (a znode ACL or the admin role). Not applied.
  'permissionDenied',
  'noUser',
  'userExists',
  // authEnable without any admin user, or removing the last admin while auth is enabled.
  'noAdmin',
] as const;
export type TreeErrorCode = (typeof TREE_ERROR_CODES)[number];

export interface TreeError {
  readonly code: TreeErrorCode;
  /** Says what to fix, e.g. "parent '/a' does not exist: create it first or set createParents". */
  readonly message: string;
  readonly path?: string;
  /** For multi: the index of the op that failed. */
  readonly failedOp?: number;
}

export function treeError(code: TreeErrorCode, message: string, path?: string): TreeError {
  return path === undefined ? { code, message } : { code, message, path };
}

/** The same error, attributed to op `index` of a multi. */
export function withFailedOp(e: TreeError, index: number): TreeError {
  return { ...e, failedOp: index, message: `op ${index}: ${e.message}` };
}
