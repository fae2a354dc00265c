/**
 * The one place that maps gRPC status codes to client errors (after microsoft/etcd3). Retry
 * logic reads `isRetryable`; nothing anywhere inspects messages.
 *
 * "Definitely not applied" and "outcome unknown" are different answers (STYLE.md habit 4):
 * a DeadlineError or CancelledError on a write means the write may or may not have been
 * applied (`outcomeUnknown`); every other error after the server answered means it was not.
 */
import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';

export interface ArborErrorInit {
  /** Server-supplied details (the gRPC status details or ErrorStatus message). */
  readonly details?: string;
  /** For Multi: the index of the op that failed, -1 or undefined otherwise. */
  readonly failedOp?: number;
  /** For OUT_OF_RANGE watches: the oldest revision still available. */
  readonly compactRevision?: number;
  readonly cause?: unknown;
}

export class ArborError extends Error {
  override readonly name: string = 'ArborError';
  /** The gRPC status code. */
  readonly code: Status;
  readonly details: string;
  readonly failedOp: number | undefined;
  /** True when retrying the same request (same sequence for writes) is safe and may succeed. */
  get isRetryable(): boolean {
    return false;
  }
  /** True when a write that failed this way may nevertheless have been applied. */
  get outcomeUnknown(): boolean {
    return false;
  }

  constructor(code: Status, message: string, init: ArborErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.details = init.details ?? message;
    this.failedOp = init.failedOp !== undefined && init.failedOp >= 0 ? init.failedOp : undefined;
  }
}

export class NoNodeError extends ArborError {
  override readonly name = 'NoNodeError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.NOT_FOUND, message, init);
  }
}

export class NodeExistsError extends ArborError {
  override readonly name = 'NodeExistsError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.ALREADY_EXISTS, message, init);
  }
}

/**
 * FAILED_PRECONDITION: a version check failed, or the tree refused the change (a non-empty
 * node without `recursive`, children under an ephemeral). The proto carries no finer reason,
 * so `BadVersionError` is the same class under its ZooKeeper name.
 */
export class FailedPreconditionError extends ArborError {
  override readonly name = 'FailedPreconditionError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.FAILED_PRECONDITION, message, init);
  }
}
export { FailedPreconditionError as BadVersionError };

export class InvalidArgumentError extends ArborError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.INVALID_ARGUMENT, message, init);
  }
}

/** The member could not be reached or cannot serve now (no leader, stream broken). */
export class UnavailableError extends ArborError {
  override readonly name = 'UnavailableError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.UNAVAILABLE, message, init);
  }
  override get isRetryable(): boolean {
    return true;
  }
}

/** The server gave up on the request (e.g. leadership changed mid-proposal); it was not applied. */
export class AbortedError extends ArborError {
  override readonly name = 'AbortedError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.ABORTED, message, init);
  }
  override get isRetryable(): boolean {
    return true;
  }
}

/**
 * The deadline passed before an answer arrived. For a write the outcome is unknown (as
 * hashicorp/raft's ErrLeadershipLost); a retry with the same sequence is safe and returns
 * the original result if it was applied.
 */
export class DeadlineError extends ArborError {
  override readonly name = 'DeadlineError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.DEADLINE_EXCEEDED, message, init);
  }
  override get isRetryable(): boolean {
    return true;
  }
  override get outcomeUnknown(): boolean {
    return true;
  }
}

export class ResourceExhaustedError extends ArborError {
  override readonly name = 'ResourceExhaustedError';
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.RESOURCE_EXHAUSTED, message, init);
  }
}

/** A watch asked for history that was compacted away; restart from `compactRevision` or re-read. */
export class OutOfRangeError extends ArborError {
  override readonly name = 'OutOfRangeError';
  readonly compactRevision: number;
  constructor(message: string, init?: ArborErrorInit) {
    super(Status.OUT_OF_RANGE, message, init);
    this.compactRevision = init?.compactRevision ?? 0;
  }
}

/** The caller aborted (AbortSignal, close()). For a write the outcome is unknown. */
export class CancelledError extends ArborError {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled', init?: ArborErrorInit) {
    super(Status.CANCELLED, message, init);
  }
  override get outcomeUnknown(): boolean {
    return true;
  }
}

/** No valid credentials: missing, wrong password, or an expired or forged token. */
export class UnauthenticatedError extends ArborError {
  override readonly name = 'UnauthenticatedError';
  constructor(message: string, init: ArborErrorInit = {}) {
    super(Status.UNAUTHENTICATED, message, init);
  }
}

/** Authenticated, but the ACL or the caller's roles do not allow the operation. */
export class PermissionDeniedError extends ArborError {
  override readonly name = 'PermissionDeniedError';
  constructor(message: string, init: ArborErrorInit = {}) {
    super(Status.PERMISSION_DENIED, message, init);
  }
}

/** Map a status code (from a unary/stream status or an in-stream ErrorStatus) to its class. */
export function errorFromStatus(code: number, message: string, init: ArborErrorInit = {}): ArborError {
  const text = message === '' ? (Status[code] ?? `status ${code}`) : message;
  switch (code as Status) {
    case Status.NOT_FOUND:
      return new NoNodeError(text, init);
    case Status.ALREADY_EXISTS:
      return new NodeExistsError(text, init);
    case Status.FAILED_PRECONDITION:
      return new FailedPreconditionError(text, init);
    case Status.INVALID_ARGUMENT:
      return new InvalidArgumentError(text, init);
    case Status.UNAVAILABLE:
      return new UnavailableError(text, init);
    case Status.ABORTED:
      return new AbortedError(text, init);
    case Status.DEADLINE_EXCEEDED:
      return new DeadlineError(text, init);
    case Status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(text, init);
    case Status.OUT_OF_RANGE:
      return new OutOfRangeError(text, init);
    case Status.CANCELLED:
      return new CancelledError(text, init);
    case Status.UNAUTHENTICATED:
      return new UnauthenticatedError(text, init);
    case Status.PERMISSION_DENIED:
      return new PermissionDeniedError(text, init);
    case Status.OK:
    case Status.UNKNOWN:
    case Status.UNIMPLEMENTED:
    case Status.INTERNAL:
    case Status.DATA_LOSS:
      return new ArborError(code, text, init);
    default:
      return new ArborError(code, text, init);
  }
}

/** Trailer keys a server may use to add structured detail to a unary status. */
export const FAILED_OP_TRAILER = 'arbor-failed-op';
export const COMPACT_REVISION_TRAILER = 'arbor-compact-revision';

function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

function numberTrailer(metadata: Metadata | undefined, key: string): number | undefined {
  const v = metadata?.get(key)[0];
  if (v === undefined) return undefined;
  const n = Number(typeof v === 'string' ? v : v.toString());
  return Number.isFinite(n) ? n : undefined;
}

/** The boundary function: anything thrown by grpc-js (or by us) becomes an ArborError. */
export function toArborError(e: unknown): ArborError {
  if (e instanceof ArborError) return e;
  if (isServiceError(e)) {
    const init: { -readonly [K in keyof ArborErrorInit]: ArborErrorInit[K] } = {
      details: e.details,
      cause: e,
    };
    const failedOp = numberTrailer(e.metadata, FAILED_OP_TRAILER);
    if (failedOp !== undefined) init.failedOp = failedOp;
    const compact = numberTrailer(e.metadata, COMPACT_REVISION_TRAILER);
    if (compact !== undefined) init.compactRevision = compact;
    return errorFromStatus(e.code, e.details || e.message, init);
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ArborError(Status.UNKNOWN, message, { cause: e });
}
