import { Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
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
  ResourceExhaustedError,
  UnavailableError,
  errorFromStatus,
  toArborError,
} from '../../src/client/index.js';

describe('gRPC status → error class', () => {
  const table: [Status, new (...a: never[]) => ArborError, { retryable: boolean; unknown: boolean }][] = [
    [Status.NOT_FOUND, NoNodeError, { retryable: false, unknown: false }],
    [Status.ALREADY_EXISTS, NodeExistsError, { retryable: false, unknown: false }],
    [Status.FAILED_PRECONDITION, FailedPreconditionError, { retryable: false, unknown: false }],
    [Status.INVALID_ARGUMENT, InvalidArgumentError, { retryable: false, unknown: false }],
    [Status.UNAVAILABLE, UnavailableError, { retryable: true, unknown: false }],
    [Status.ABORTED, AbortedError, { retryable: true, unknown: false }],
    [Status.DEADLINE_EXCEEDED, DeadlineError, { retryable: true, unknown: true }],
    [Status.RESOURCE_EXHAUSTED, ResourceExhaustedError, { retryable: false, unknown: false }],
    [Status.OUT_OF_RANGE, OutOfRangeError, { retryable: false, unknown: false }],
    [Status.CANCELLED, CancelledError, { retryable: false, unknown: true }],
    [Status.INTERNAL, ArborError, { retryable: false, unknown: false }],
    [Status.PERMISSION_DENIED, ArborError, { retryable: false, unknown: false }],
  ];

  it.each(table)('status %i maps to %o', (code, cls, { retryable, unknown }) => {
    const e = errorFromStatus(code, 'why');
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(ArborError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(code);
    expect(e.message).toBe('why');
    expect(e.isRetryable).toBe(retryable);
    expect(e.outcomeUnknown).toBe(unknown);
  });

  it('BadVersionError is the FAILED_PRECONDITION class', () => {
    expect(errorFromStatus(Status.FAILED_PRECONDITION, 'v')).toBeInstanceOf(BadVersionError);
  });

  it('converts a grpc-js ServiceError, reading structured trailers', () => {
    const metadata = new Metadata();
    metadata.set('arbor-compact-revision', '42');
    metadata.set('arbor-failed-op', '2');
    const se: ServiceError = Object.assign(new Error('11 OUT_OF_RANGE: compacted'), {
      code: Status.OUT_OF_RANGE,
      details: 'compacted',
      metadata,
    });
    const e = toArborError(se);
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect((e as OutOfRangeError).compactRevision).toBe(42);
    expect(e.failedOp).toBe(2);
    expect(e.details).toBe('compacted');
    expect(e.cause).toBe(se);
  });

  it('wraps anything else as UNKNOWN and passes ArborErrors through', () => {
    const mine = new NoNodeError('x');
    expect(toArborError(mine)).toBe(mine);
    expect(toArborError(new TypeError('boom'))).toMatchObject({ code: Status.UNKNOWN, message: 'boom' });
    expect(toArborError('str').isRetryable).toBe(false);
  });

  it('an empty message falls back to the status name; failedOp -1 means none', () => {
    const e = errorFromStatus(Status.NOT_FOUND, '', { failedOp: -1 });
    expect(e.message).toBe('NOT_FOUND');
    expect(e.failedOp).toBeUndefined();
  });
});
