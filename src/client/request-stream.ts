/**
 * The pipelined `Stream` RPC on one connection: many requests in flight, answered by id,
 * writes applied in the order sent (per-stream FIFO, as on a ZooKeeper session).
 *
 * A broken stream rejects everything in flight with a retryable UnavailableError; the caller's
 * retry loop re-sends on a fresh stream (writes with the same sequence, so nothing applies
 * twice). A stream is never revived: the endpoint replaces it.
 */
import type * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineError,
  UnavailableError,
  errorFromStatus,
  toArborError,
  type ArborError,
} from './errors.js';
import type { WireClientResponse, WireOpName, WireOps } from './wire.js';
import { approxWireSize } from '../util/proto-writer.js';

interface Pending {
  readonly op: WireOpName;
  readonly resolve: (res: unknown) => void;
  readonly reject: (e: ArborError) => void;
  readonly cleanup: () => void;
}

/**
 * Most requests packed into one message, and about how many bytes at most (approxWireSize: an
 * overestimate). A member may be configured with messages as small as 64 KiB
 * (--max-message-bytes).
 */
const PACK_COUNT = 256;
const PACK_BYTES = 32 * 1024;

type StreamCall = grpc.ClientDuplexStream<Record<string, unknown>, WireClientResponse>;

export class RequestStream {
  private readonly call: StreamCall;
  private nextId = 1;
  /** Requests sent and not yet answered, by id. */
  private readonly pending = new Map<string, Pending>();
  private brokenWith: ArborError | undefined;
  private closing = false;
  /** The member said it takes ClientRequest.batch (initial metadata `arbor-batch: 1`). */
  private canPack = false;
  /** Requests of this event-loop turn, sent as one message at the end of its microtasks. */
  private outbox: Record<string, unknown>[] = [];
  private outboxBytes = 0;

  /** `onBroken` is told once, with the status, so the endpoint can stop using this stream. */
  constructor(
    client: grpc.Client,
    private readonly onBroken: (stream: RequestStream, error: ArborError) => void,
  ) {
    const open = (client as unknown as Record<string, () => StreamCall>)['Stream'];
    if (!open) throw new Error('Arbor service has no Stream method');
    this.call = open.call(client);
    this.call.on('metadata', (md: grpc.Metadata) => {
      this.canPack = md.get('arbor-batch')[0] === '1';
    });
    this.call.on('data', (res: WireClientResponse) => this.onResponse(res));
    this.call.on('error', (e: unknown) => this.fail(toArborError(e)));
    this.call.on('status', (st: grpc.StatusObject) => {
      if (st.code === Status.OK) this.fail(new UnavailableError('request stream ended by server'));
    });
  }

  get broken(): boolean {
    return this.brokenWith !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  send<K extends WireOpName>(
    op: K,
    req: WireOps[K]['req'],
    deadline: number,
    signal?: AbortSignal,
  ): Promise<WireOps[K]['res']> {
    return new Promise<WireOps[K]['res']>((resolve, reject) => {
      if (this.brokenWith) {
        reject(this.brokenWith);
        return;
      }
      if (signal?.aborted) {
        reject(new CancelledError('aborted by caller', { cause: signal.reason }));
        return;
      }
      const id = String(this.nextId++);
      // The answer may still come after we stop waiting; it is then dropped by id.
      const timer = setTimeout(
        () =>
          this.settle(id, (p) =>
            p.reject(new DeadlineError(`no answer within the attempt deadline (${op})`)),
          ),
        Math.max(0, deadline - Date.now()),
      );
      const onAbort = (): void =>
        this.settle(id, (p) => p.reject(new CancelledError('aborted by caller', { cause: signal?.reason })));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        op,
        resolve: resolve as (res: unknown) => void,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      });
      const msg = { id, [op]: req };
      this.write(msg, approxWireSize(msg));
    });
  }

  /**
   * Requests sent in one turn (a burst of callers, or the next requests of callers whose answers
   * arrived together) leave as one message: on both ends gRPC's cost is mostly per message.
   * A request whose size estimate reaches PACK_BYTES goes alone; a pack stays below PACK_BYTES.
   */
  private write(msg: Record<string, unknown>, size: number): void {
    if (!this.canPack || size >= PACK_BYTES) {
      this.flush();
      this.call.write(msg);
      return;
    }
    if (this.outboxBytes + size > PACK_BYTES || this.outbox.length >= PACK_COUNT) this.flush();
    if (this.outbox.length === 0) queueMicrotask(() => this.flush());
    this.outbox.push(msg);
    this.outboxBytes += size;
  }

  private flush(): void {
    const out = this.outbox;
    if (out.length === 0) return;
    this.outbox = [];
    this.outboxBytes = 0;
    if (this.brokenWith !== undefined) return;
    this.call.write(out.length === 1 ? (out[0] as Record<string, unknown>) : { batch: out });
  }

  /** End the stream (client shutdown). In-flight requests fail with CancelledError. */
  close(): void {
    this.closing = true;
    this.fail(new CancelledError('client closed'));
    this.call.cancel();
  }

  private settle(id: string, f: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.cleanup();
    f(p);
  }

  private onResponse(res: WireClientResponse): void {
    if (res.batch !== undefined && res.batch.length > 0) {
      for (const r of res.batch) this.onResponse(r);
      return;
    }
    this.settle(String(res.id), (p) => {
      if (res.result === 'error') {
        p.reject(errorFromStatus(res.error.code, res.error.message, { failedOp: res.error.failedOp }));
      } else if (res.result === p.op) {
        p.resolve((res as unknown as Record<string, unknown>)[res.result]);
      } else {
        p.reject(errorFromStatus(Status.INTERNAL, `expected a ${p.op} result, got ${res.result}`));
      }
    });
  }

  private fail(cause: ArborError): void {
    if (this.brokenWith) return;
    // A broken stream is retryable from the caller's point of view whatever status ended it
    // (except our own shutdown): the request may be re-sent on a new stream.
    const error = this.closing
      ? new CancelledError('client closed')
      : cause.isRetryable
        ? cause
        : new UnavailableError(`request stream broken: ${cause.message}`, { cause });
    this.brokenWith = error;
    for (const id of [...this.pending.keys()]) this.settle(id, (p) => p.reject(error));
    this.onBroken(this, cause);
  }
}
