/**
 * The one place where transport failures become gRPC statuses and back (the grpc-js boundary
 * habit). A PeerError crosses the wire intact: the leader's handler throws one, the follower's
 * `forward()` rejects with one carrying the same code and message.
 */
import { status, type ServiceError, type StatusObject } from '@grpc/grpc-js';

export class PeerError extends Error {
  override readonly name = 'PeerError';
  /** A gRPC status code (grpc.status). */
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A failed call's status as seen by the caller. CANCELLED that we did not ask for means the peer
 * reset the stream (it is shutting down): to the caller that is UNAVAILABLE, "outcome unknown",
 * not a cancellation of its own. Our own cancellations never reach here (stop() answers first).
 */
export function fromServiceError(e: ServiceError): PeerError {
  if (e.code === status.CANCELLED) return new PeerError(status.UNAVAILABLE, `peer reset: ${e.details}`);
  return new PeerError(e.code, e.details);
}

/**
 * Whatever a handler threw, as the status sent back. A PeerError keeps its code and message;
 * anything else is a bug on the receiving member, reported as INTERNAL with its message.
 */
export function toStatus(e: unknown): Partial<StatusObject> {
  if (e instanceof PeerError) return { code: e.code, details: e.message };
  const details = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details };
}
