/**
 * The outbound half of one peer connection: a bounded queue of encoded Raft messages and the
 * long-lived `Messages` stream that carries them in batches (etcd rafthttp's streamWriter shape).
 *
 * Never blocks the caller: `enqueue` only appends; the flush runs on setImmediate, so every
 * message queued during one event-loop turn leaves as ONE batch frame. While the stream's buffer
 * is full (`write()` returned false) messages keep accumulating and leave as the next batch on
 * 'drain'. Loss is reported through `unreachable`, and Raft recovers (the leader probes again,
 * dissertation §3.5: messages may be lost; §10.2.1: report unreachable peers to the leader).
 */
import { Metadata, type Client, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { assertNever } from '../util/assert.js';
import type { NodeId } from '../util/brand.js';
import type { Backoff } from './backoff.js';
import type { Empty, MessageBatch, PeerProto } from './peer-proto.js';
import type { RateLimitedLog } from '../util/rate-limited-log.js';
import type { TransportStats } from './transport-interface.js';

export interface PeerLinkDeps {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly to: NodeId;
  readonly client: Client;
  readonly proto: PeerProto;
  readonly logger: Logger;
  readonly warn: RateLimitedLog;
  readonly backoff: Backoff;
  readonly stats: TransportStats;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  /** A stream not accepted within this time is abandoned and retried (a black-holed peer). */
  readonly connectTimeoutMs: number;
  /**
   * Budget for one frame's messages, counted with PER_MESSAGE_OVERHEAD each; below
   * maxMessageBytes by the frame's own fields so a batch never exceeds the receiver's limit.
   */
  readonly maxBatchBytes: number;
  /** Report lost messages; the transport coalesces and defers the callback. */
  readonly unreachable: (id: NodeId) => void;
}

/** Upper bound of the protobuf tag and length prefix of one `repeated bytes` element. */
const PER_MESSAGE_OVERHEAD = 16;

type LinkState =
  /** No stream; the next flush opens one. */
  | { readonly type: 'idle' }
  /**
   * A stream exists. `connected` once the receiver sent headers; `blocked` while the stream's
   * buffer is above its high-water mark (waiting for 'drain').
   */
  | {
      readonly type: 'open';
      readonly call: ClientWritableStream<MessageBatch>;
      connected: boolean;
      blocked: boolean;
      readonly connectTimer: NodeJS.Timeout;
    }
  /** The last stream failed: messages are dropped (and reported) until the retry timer fires. */
  | { readonly type: 'backoff'; readonly timer: NodeJS.Timeout }
  | { readonly type: 'closed' };

export class PeerLink {
  private state: LinkState = { type: 'idle' };
  // Invariant: queuedBytes === sum of queue[i].byteLength; queue.length <= maxQueuedMessages.
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  /** A stream failed since the last accepted one: the next acceptance is worth an info line. */
  private recovering = false;

  constructor(private readonly d: PeerLinkDeps) {}

  enqueue(message: Uint8Array): void {
    const s = this.state;
    switch (s.type) {
      case 'closed':
        return;
      case 'backoff':
        this.drop(1, 'stream down');
        return;
      case 'idle':
      case 'open':
        break;
      default:
        assertNever(s, 'link state');
    }
    if (message.byteLength + PER_MESSAGE_OVERHEAD > this.d.maxBatchBytes) {
      this.drop(1, 'message larger than maxMessageBytes');
      return;
    }
    if (
      this.queue.length >= this.d.maxQueuedMessages ||
      this.queuedBytes + message.byteLength > this.d.maxQueuedBytes
    ) {
      // Drop the newest: the queued ones are older and already ordered; Raft resends anyway.
      this.drop(1, 'queue full');
      return;
    }
    this.queue.push(message);
    this.queuedBytes += message.byteLength;
    this.scheduleFlush();
  }

  /** Cancels the stream and forgets queued messages; the link is unusable afterwards. */
  close(): void {
    const s = this.state;
    if (s.type === 'open') {
      clearTimeout(s.connectTimer);
      s.call.cancel();
    }
    if (s.type === 'backoff') clearTimeout(s.timer);
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    this.state = { type: 'closed' };
    this.queue = [];
    this.queuedBytes = 0;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled !== undefined) return;
    this.flushScheduled = setImmediate(() => {
      this.flushScheduled = undefined;
      this.flush();
    });
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    if (this.state.type === 'idle') this.open();
    const s = this.state;
    if (s.type !== 'open' || s.blocked) return;
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      this.d.stats.batchesSent++;
      this.d.stats.messagesSent += batch.length;
      const more = s.call.write({
        clusterId: this.d.clusterId,
        from: this.d.selfId,
        to: this.d.to,
        messages: batch,
      });
      if (!more) {
        // Backpressure: keep accumulating until the stream drains, then send one batch.
        s.blocked = true;
        return;
      }
    }
  }

  /** The longest queue prefix that fits in one frame (at least one message). */
  private takeBatch(): Uint8Array[] {
    let n = 0;
    let bytes = 0;
    let budget = 0;
    for (const m of this.queue) {
      const cost = m.byteLength + PER_MESSAGE_OVERHEAD;
      if (n > 0 && budget + cost > this.d.maxBatchBytes) break;
      budget += cost;
      bytes += m.byteLength;
      n++;
    }
    const batch = n === this.queue.length ? this.queue : this.queue.slice(0, n);
    this.queue = n === this.queue.length ? [] : this.queue.slice(n);
    this.queuedBytes -= bytes;
    return batch;
  }

  private open(): void {
    const { proto, client } = this.d;
    this.d.stats.streamsOpened++;
    const call = client.makeClientStreamRequest<MessageBatch, Empty>(
      proto.messages.path,
      proto.messages.requestSerialize,
      proto.messages.responseDeserialize,
      new Metadata(),
      {},
      (e) => this.onStreamEnd(call, e ?? undefined),
    );
    // Until the receiver accepts, writes pile up inside grpc-js; a SYN into the void would hold
    // them for grpc-js's 20 s connect timeout. Give up sooner and report the peer unreachable.
    const connectTimer = setTimeout(() => {
      if (this.state === state && !state.connected) call.cancel();
    }, this.d.connectTimeoutMs);
    connectTimer.unref();
    const state: Extract<LinkState, { type: 'open' }> = {
      type: 'open',
      call,
      connected: false,
      blocked: false,
      connectTimer,
    };
    this.state = state;
    call.on('metadata', () => {
      if (this.state !== state) return;
      clearTimeout(connectTimer);
      state.connected = true;
      this.d.backoff.reset();
      if (this.recovering) this.d.logger.info({ peer: this.d.to }, 'peer stream reconnected');
      else this.d.logger.debug({ peer: this.d.to }, 'peer stream connected');
      this.recovering = false;
    });
    call.on('drain', () => {
      if (this.state !== state) return;
      state.blocked = false;
      this.scheduleFlush();
    });
    // The call's status arrives through the callback; a stream error event must never go uncaught.
    call.on('error', (e: Error) => {
      this.d.logger.debug({ peer: this.d.to, err: e.message }, 'peer stream error event');
    });
  }

  private onStreamEnd(call: ClientWritableStream<MessageBatch>, e: ServiceError | undefined): void {
    const s = this.state;
    if (s.type !== 'open' || s.call !== call) return; // closed, or a stream we already replaced
    clearTimeout(s.connectTimer);
    const delay = this.d.backoff.next();
    this.recovering = true;
    this.d.warn.warn(
      `stream-${this.d.to}`,
      {
        peer: this.d.to,
        code: e?.code ?? 0,
        details: e?.details ?? 'ended',
        retryInMs: delay,
        connected: s.connected,
      },
      'peer stream failed',
    );
    // Whatever was written may or may not have arrived; what is still queued certainly did not.
    this.drop(this.queue.length, 'stream failed');
    this.queue = [];
    this.queuedBytes = 0;
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    this.d.unreachable(this.d.to);
    const timer = setTimeout(() => {
      if (this.state.type === 'backoff' && this.state.timer === timer) this.state = { type: 'idle' };
    }, delay);
    // A retry timer alone must not keep the process alive.
    timer.unref();
    this.state = { type: 'backoff', timer };
  }

  private drop(n: number, reason: string): void {
    if (n === 0) return;
    this.d.stats.messagesDropped += n;
    this.d.warn.warn(
      `drop-${this.d.to}-${reason}`,
      { peer: this.d.to, reason, dropped: n },
      'dropped peer messages',
    );
    this.d.unreachable(this.d.to);
  }
}
