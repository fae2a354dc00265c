/**
 * The one wrapper every unary handler goes through: runs the operation with the call's deadline,
 * turns whatever it throws into a gRPC status (status.ts), and tags refusals with a request id
 * that also appears in this member's log line.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { serviceError, toStatus } from './status.js';
import type { ConnectionCounts, ConnectionLimits } from './connection-limits.js';

type Msg = Record<string, unknown>;

let requestCounter = 0;
const requestPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}`;

/** Unique per member process; only failed requests get one (the success path stays lean). */
function nextRequestId(): string {
  return `${requestPrefix}-${(++requestCounter).toString(36)}`;
}

/** Thrown values as Errors (handlers only ever throw Errors; this keeps promise rejections typed). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * `connections`, when given, bounds the calls in flight per client connection: a call beyond the
 * budget is refused with RESOURCE_EXHAUSTED before it does any work.
 */
export function unaryHandler(
  log: Logger,
  deadlineOf: (call: { getDeadline(): grpc.Deadline }) => number,
  connections?: ConnectionLimits,
): (
  fn: (req: unknown, deadline: number, call: grpc.ServerUnaryCall<unknown, Msg>) => Promise<Msg>,
) => (call: grpc.ServerUnaryCall<unknown, Msg>, cb: grpc.sendUnaryData<Msg>) => void {
  return (fn) => (call, cb) => {
    let p: Promise<Msg>;
    // Set once the call is counted in, so that only a counted call is counted out.
    let counted: ConnectionCounts | undefined;
    try {
      if (connections !== undefined) {
        const conn = connections.of(call);
        connections.enterRequest(conn);
        counted = conn;
      }
      p = fn(call.request, deadlineOf(call), call);
    } catch (e) {
      p = Promise.reject(asError(e));
    }
    p.then(
      (res) => {
        if (counted !== undefined) connections?.leaveRequest(counted);
        cb(null, res);
      },
      (e: unknown) => {
        if (counted !== undefined) connections?.leaveRequest(counted);
        const st = toStatus(e);
        const requestId = nextRequestId();
        st.metadata.set('arbor-request-id', requestId);
        const fields = { requestId, method: call.getPath(), code: st.code };
        if (st.code === grpc.status.INTERNAL) log.error({ ...fields, err: e }, 'internal error');
        else log.debug({ ...fields, details: st.details }, 'request refused');
        cb(serviceError(st));
      },
    );
  };
}
