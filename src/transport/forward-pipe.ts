/**
 * Forwards pipelined over one `ForwardStream` per peer: a unary call per forward costs a new
 * HTTP/2 stream, headers and trailers each time; here many requests share one stream and answers
 * are matched by id. Deadlines are enforced on this side with a timer per request (the receiver
 * also gets the time left, to stop early).
 *
 * A broken stream fails every unanswered request with its status (UNAVAILABLE when the peer went
 * away): like a failed unary call, the outcome is unknown and the member decides what to tell its
 * client (hashicorp/raft's "leadership lost: outcome unknown"). There is no automatic resend.
 */
import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeId } from '../util/brand.js';
import { fromServiceError, PeerError } from './peer-error.js';
import type { ForwardStreamRequest, ForwardStreamResponse, PeerProto } from './peer-proto.js';

interface Pending {
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (e: PeerError) => void;
  readonly timer: NodeJS.Timeout;
}

export interface ForwardPipeDeps {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly to: NodeId;
  readonly client: Client;
  readonly proto: PeerProto;
  readonly logger: Logger;
}

export class ForwardPipe {
  private call: ClientDuplexStream<ForwardStreamRequest, ForwardStreamResponse> | undefined;
  /** Unanswered requests on the current stream, by id. */
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly d: ForwardPipeDeps) {}

  forward(kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new PeerError(status.CANCELLED, 'peer transport stopped'));
    const call = this.call ?? this.open();
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The request may still be handled; its late answer is ignored.
        this.pending.delete(id);
        reject(new PeerError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
        this.endIfDrained();
      }, deadlineMs);
      this.pending.set(id, { resolve, reject, timer });
      // No backpressure wait: callers bound their own concurrency, and grpc-js queues the rest.
      call.write({
        id,
        request: { clusterId: this.d.clusterId, from: this.d.selfId, kind, payload },
        deadlineMs: Math.max(0, Math.min(Math.round(deadlineMs), 0xffffffff)),
      });
    });
  }

  /**
   * Refuses new requests but lets those already sent finish (the peer moved or left the
   * configuration: an answer on its way, e.g. to the RemoveMember that removed it, still counts).
   * The stream is cancelled once nothing is pending; deadlines still bound the wait.
   */
  drain(): void {
    this.closed = true;
    this.endIfDrained();
  }

  /** Fails everything unanswered with `reason` and refuses new requests. */
  close(reason: PeerError): void {
    this.closed = true;
    this.failAll(reason);
    this.call?.cancel();
    this.call = undefined;
  }

  private open(): ClientDuplexStream<ForwardStreamRequest, ForwardStreamResponse> {
    const m = this.d.proto.forwardStream;
    const call = this.d.client.makeBidiStreamRequest<ForwardStreamRequest, ForwardStreamResponse>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      new Metadata(),
      {},
    );
    this.call = call;
    call.on('data', (res: ForwardStreamResponse) => {
      const p = this.pending.get(res.id);
      if (p === undefined) return; // timed out already
      this.pending.delete(res.id);
      clearTimeout(p.timer);
      if (res.result === 'error' && res.error) p.reject(new PeerError(res.error.code, res.error.message));
      else p.resolve(res.payload ?? new Uint8Array(0));
      this.endIfDrained();
    });
    const broken = (e: PeerError): void => {
      if (this.call !== call) return;
      this.call = undefined;
      if (this.pending.size > 0) {
        this.d.logger.debug(
          { peer: this.d.to, code: e.code, pending: this.pending.size },
          'forward stream broke',
        );
      }
      this.failAll(e);
    };
    // A status error carries a code; anything else (a write after the stream died) is a lost peer.
    call.on('error', (e: Partial<ServiceError> & Error) =>
      broken(
        typeof e.code === 'number'
          ? fromServiceError(e as ServiceError)
          : new PeerError(status.UNAVAILABLE, e.message),
      ),
    );
    // The receiver never ends the stream first unless it is shutting down.
    call.on('end', () => broken(new PeerError(status.UNAVAILABLE, 'forward stream ended by peer')));
    return call;
  }

  private endIfDrained(): void {
    if (!this.closed || this.pending.size > 0 || this.call === undefined) return;
    const call = this.call;
    this.call = undefined;
    call.cancel();
  }

  private failAll(e: PeerError): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }
}
