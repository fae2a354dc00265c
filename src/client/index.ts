/** Public surface of the Arbor TypeScript client. */
export { ArborClient, DEFAULT_ENDPOINTS } from './client.js';
export { Session, type SessionEvents } from './session.js';
export { Watcher } from './watch.js';
export {
  AbortedError,
  ArborError,
  BadVersionError,
  CancelledError,
  DeadlineError,
  FailedPreconditionError,
  InvalidArgumentError,
  NoNodeError,
  NodeExistsError,
  OutOfRangeError,
  PermissionDeniedError,
  UnauthenticatedError,
  ResourceExhaustedError,
  UnavailableError,
  errorFromStatus,
  toArborError,
} from './errors.js';
export type * from './types.js';
