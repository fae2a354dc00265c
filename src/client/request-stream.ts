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
import { MessagePacker } from '../util/message-packer.js';

interface Pending {
  readonly op: WireOpName;
  readonly resolve: (res: unknown) => void;
  readonly reject: (e: ArborError) => void;
  readonly cleanup: () => void;
}

/** Most requests packed into one message (a member refuses more than 1024). */
const PACK_COUNT = 256;

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
  /** Requests of one event-loop turn leave as one message once the member takes packs. */
  private readonly outbox: MessagePacker;

  /** `onBroken` is told once, with the status, so the endpoint can stop using this stream. */
  constructor(
    client: grpc.Client,
    private readonly onBroken: (stream: RequestStream, error: ArborError) => void,
  ) {
    const open = (client as unknown as Record<string, () => StreamCall>)['Stream'];
    if (!open) throw new Error('Arbor service has no Stream method');
    this.call = open.call(client);
    // A pack cut off by a broken stream is not sent: its requests were rejected for a retry.
    this.outbox = new MessagePacker((m) => {
      if (this.brokenWith === undefined) this.call.write(m);
    }, PACK_COUNT);
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
      this.outbox.add({ id, [op]: req }, this.canPack);
    });
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
