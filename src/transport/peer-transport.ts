/**
 * Peer messaging over gRPC: one server per member and one channel per peer, carrying
 *  - Raft messages on one long-lived batched stream per peer (PeerLink),
 *  - snapshots on a client stream per transfer,
 *  - forwarded client requests as unary calls with a deadline.
 *
 * An adapter in the hashicorp/raft sense: the member sees only PeerHandler and this class's
 * methods, and all bytes are opaque. Nothing here blocks the caller or throws out of a callback;
 * a broken peer only ever costs its own queue.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeId } from '../util/brand.js';
import { Backoff } from './backoff.js';
import { ForwardPipe } from './forward-pipe.js';
import { fromServiceError, PeerError } from './peer-error.js';
import { PeerLink } from './peer-link.js';
import {
  peerProto,
  type Empty,
  type ForwardResponse,
  type PeerProto,
  type SnapshotChunk,
} from './peer-proto.js';
import { peerService } from './peer-service.js';
import { RateLimitedLog } from '../util/rate-limited-log.js';
import {
  noFaults,
  type BackoffOptions,
  type PeerTransportOptions,
  type TransportFaults,
  type TransportStats,
} from './transport-interface.js';

const MiB = 1024 * 1024;
export const TRANSPORT_DEFAULTS = {
  maxMessageBytes: 64 * MiB,
  maxQueuedMessages: 4096,
  maxQueuedBytes: 64 * MiB,
  backoff: { initialMs: 50, maxMs: 1_000 } satisfies BackoffOptions,
  connectTimeoutMs: 5_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
} as const;

/** Room in a frame for cluster id, addresses and protobuf framing around the messages. */
const FRAME_RESERVE_BYTES = 4096;

interface Peer {
  readonly addr: string;
  readonly client: grpc.Client;
  readonly link: PeerLink;
  /** Opened on the first pipelined forward. */
  pipe: ForwardPipe | undefined;
}

interface Sleeper {
  readonly timer: NodeJS.Timeout;
  readonly cancel: (e: Error) => void;
}

export class PeerTransport {
  /**
   * Told when messages to a peer were lost (queue overflow, broken stream, unknown address), so
   * Raft can move the peer's progress to probing (etcd's ReportUnreachable). Called from a
   * microtask, never inside send(): the caller is usually in the middle of handling a Ready.
   * Coalesced: at most one call per peer per microtask turn.
   */
  onUnreachable: ((id: NodeId) => void) | undefined = undefined;

  private readonly proto: PeerProto;
  private readonly logger: Logger;
  private readonly warnLog: RateLimitedLog;
  private readonly faults: TransportFaults;
  private readonly random: () => number;
  private readonly maxMessageBytes: number;
  private readonly backoffOpts: BackoffOptions;
  private readonly credentials: { server: grpc.ServerCredentials; client: grpc.ChannelCredentials };
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly counters: TransportStats = {
    batchesSent: 0,
    messagesSent: 0,
    batchesReceived: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    batchesRejected: 0,
    streamsOpened: 0,
  };

  private addrs: ReadonlyMap<NodeId, string>;
  /** Connected lazily on the first use; invariant: every key is in `addrs` with the same address. */
  private readonly peers = new Map<NodeId, Peer>();
  /** Snapshot and forward calls in flight, cancelled by stop(). */
  private readonly calls = new Set<{ cancel(): void }>();
  /** Fault-delayed messages not yet queued. */
  private readonly delayed = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<Sleeper>();
  private readonly unreachable = new Set<NodeId>();
  private server: grpc.Server | undefined;
  private boundPort: number | undefined;
  private stopped = false;

  constructor(private readonly opts: PeerTransportOptions) {
    this.proto = peerProto();
    this.logger = opts.logger;
    this.warnLog = new RateLimitedLog(opts.logger);
    this.faults = opts.faults ?? noFaults;
    this.random = opts.random ?? Math.random;
    this.maxMessageBytes = opts.maxMessageBytes ?? TRANSPORT_DEFAULTS.maxMessageBytes;
    this.backoffOpts = opts.backoff ?? TRANSPORT_DEFAULTS.backoff;
    this.credentials = opts.credentials ?? {
      server: grpc.ServerCredentials.createInsecure(),
      client: grpc.credentials.createInsecure(),
    };
    this.addrs = new Map(opts.peers);
    this.channelOptions = {
      // Notice a dead peer on an idle connection; the leader's heartbeats keep it non-idle anyway.
      'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? TRANSPORT_DEFAULTS.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      // grpc-js defaults to 1 s growing to 120 s between connection attempts; a member that
      // restarts must be reachable again within a few election timeouts.
      'grpc.initial_reconnect_backoff_ms': this.backoffOpts.initialMs,
      'grpc.max_reconnect_backoff_ms': this.backoffOpts.maxMs,
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.max_receive_message_length': this.maxMessageBytes,
      // Each transport owns its connections: two members in one process (tests, benchmarks)
      // must not share a subchannel, or one member's fault would become the other's.
      'grpc.use_local_subchannel_pool': 1,
      // Retries would buffer every streamed message until the call commits; Raft retries itself.
      'grpc.enable_retries': 0,
    };
  }

  /** Binds listenAddr and starts serving. Port 0 binds a free port: read it from `port`. */
  async start(): Promise<void> {
    if (this.server !== undefined || this.stopped) throw new Error('PeerTransport.start: already started');
    const server = new grpc.Server({
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': this.opts.keepaliveTimeMs ?? TRANSPORT_DEFAULTS.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.opts.keepaliveTimeoutMs ?? TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
    });
    server.addService(
      this.proto.service,
      peerService({
        selfId: this.opts.selfId,
        clusterId: this.opts.clusterId,
        handler: this.opts.handler,
        logger: this.logger,
        warn: this.warnLog,
        stats: this.counters,
      }),
    );
    this.server = server;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      server.bindAsync(this.opts.listenAddr, this.credentials.server, (e, port) =>
        e === null ? resolve(port) : reject(e),
      );
    });
    this.logger.info({ listenAddr: this.opts.listenAddr, port: this.boundPort }, 'peer transport listening');
  }

  /** The bound port (after start()). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('PeerTransport.port: not started');
    return this.boundPort;
  }

  /**
   * Cancels every stream and call, closes channels and the server. Pending sends are dropped;
   * pending sendSnapshot/forward calls reject with CANCELLED. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.delayed) clearTimeout(t);
    this.delayed.clear();
    const stopped = new PeerError(grpc.status.CANCELLED, 'peer transport stopped');
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.cancel(stopped);
    }
    this.sleepers.clear();
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    for (const id of [...this.peers.keys()]) this.disconnect(id, stopped);
    const server = this.server;
    if (server !== undefined) {
      // Inbound Messages streams never end on their own, so a graceful shutdown alone would wait
      // forever: start it (its callback fires once listeners and sessions are really closed),
      // then cut the sessions; the senders see UNAVAILABLE and back off.
      await new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        server.forceShutdown();
      });
    }
    // Closed sockets and channels release their handles on the next turn; resolve after that so
    // a caller that stops and exits finds the event loop empty.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.logger.info({}, 'peer transport stopped');
  }

  /** Membership changed: drop connections to removed or re-addressed members. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.addrs = new Map(peers);
    for (const [id, peer] of [...this.peers]) {
      if (peers.get(id) !== peer.addr) this.disconnect(id, undefined);
    }
  }

  /** Queues one encoded Raft message; never blocks, never throws. Loss is reported via onUnreachable. */
  send(to: NodeId, message: Uint8Array): void {
    if (this.stopped) return;
    if (this.faults.drop(to)) return;
    const delay = this.faults.delayMs(to);
    if (delay > 0) {
      const t = setTimeout(() => {
        this.delayed.delete(t);
        this.enqueue(to, message);
      }, delay);
      this.delayed.add(t);
      return;
    }
    this.enqueue(to, message);
  }

  /**
   * Streams a snapshot: `header` first, then every chunk in order, honouring the stream's
   * backpressure. Resolves when the receiver's handler has resolved; rejects with a PeerError
   * carrying the receiver's status, or with the error thrown by `chunks`.
   */
  async sendSnapshot(to: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await this.faultsFor(to);
    const peer = this.peerOrThrow(to);
    const m = this.proto.installSnapshot;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      let wake: (() => void) | undefined;
      const call = peer.client.makeClientStreamRequest<Partial<SnapshotChunk>, Empty>(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        new grpc.Metadata(),
        {},
        (e) => {
          done = true;
          this.calls.delete(call);
          wake?.();
          if (e !== null) reject(this.callError(e));
          else resolve();
        },
      );
      this.calls.add(call);
      call.on('error', (e: Error) =>
        this.logger.debug({ peer: to, err: e.message }, 'snapshot stream error event'),
      );
      call.on('drain', () => wake?.());
      const waitDrain = (): Promise<void> =>
        new Promise<void>((r) => {
          wake = () => {
            wake = undefined;
            r();
          };
        });
      const pump = async (): Promise<void> => {
        const first = { clusterId: this.opts.clusterId, from: this.opts.selfId, to, header };
        if (!call.write(first)) await waitDrain();
        for await (const data of chunks) {
          if (done) return; // the receiver answered early (an error): stop reading the source
          if (!call.write({ data })) await waitDrain();
        }
        // The explicit end marker: the receiver refuses a stream that ends without it.
        if (!done) call.end({ last: true });
      };
      pump().catch((e: unknown) => {
        // The source failed: report its error, not the CANCELLED status it causes.
        reject(e instanceof Error ? e : new Error(String(e)));
        call.cancel();
      });
    });
  }

  /**
   * Sends a request to `to` (the leader) and returns its answer. Rejects with a PeerError: the
   * handler's own code and message, DEADLINE_EXCEEDED after `deadlineMs`, UNAVAILABLE if the
   * peer cannot be reached (the request may or may not have been handled — the caller decides).
   */
  async forward(to: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    const deadline = Date.now() + deadlineMs;
    await this.faultsFor(to);
    if (Date.now() >= deadline)
      throw new PeerError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded before send');
    const peer = this.peerOrThrow(to);
    if (this.opts.pipelineForwards === true) {
      peer.pipe ??= new ForwardPipe({
        selfId: this.opts.selfId,
        clusterId: this.opts.clusterId,
        to,
        client: peer.client,
        proto: this.proto,
        logger: this.logger,
      });
      return peer.pipe.forward(kind, payload, deadline - Date.now());
    }
    const m = this.proto.forward;
    return new Promise<Uint8Array>((resolve, reject) => {
      const call = peer.client.makeUnaryRequest<
        { clusterId: string; from: number; kind: string; payload: Uint8Array },
        ForwardResponse
      >(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        { clusterId: this.opts.clusterId, from: this.opts.selfId, kind, payload },
        new grpc.Metadata(),
        { deadline },
        (e, res) => {
          this.calls.delete(call);
          if (e !== null) reject(this.callError(e));
          else if (res === undefined) reject(new PeerError(grpc.status.INTERNAL, 'empty forward response'));
          else resolve(res.payload);
        },
      );
      this.calls.add(call);
    });
  }

  /** A copy of the counters. */
  stats(): TransportStats {
    return { ...this.counters };
  }

  private enqueue(to: NodeId, message: Uint8Array): void {
    if (this.stopped) return;
    const peer = this.peer(to);
    if (peer === undefined) {
      this.counters.messagesDropped++;
      this.warnLog.warn(`unknown-${to}`, { peer: to }, 'dropped message to unknown peer');
      this.reportUnreachable(to);
      return;
    }
    peer.link.enqueue(message);
  }

  private peer(id: NodeId): Peer | undefined {
    const existing = this.peers.get(id);
    if (existing !== undefined) return existing;
    const addr = this.addrs.get(id);
    if (addr === undefined || id === this.opts.selfId || this.stopped) return undefined;
    const client = new grpc.Client(addr, this.credentials.client, this.channelOptions);
    const link = new PeerLink({
      selfId: this.opts.selfId,
      clusterId: this.opts.clusterId,
      to: id,
      client,
      proto: this.proto,
      logger: this.logger,
      warn: this.warnLog,
      backoff: new Backoff(this.backoffOpts, this.random),
      stats: this.counters,
      maxQueuedMessages: this.opts.maxQueuedMessages ?? TRANSPORT_DEFAULTS.maxQueuedMessages,
      maxQueuedBytes: this.opts.maxQueuedBytes ?? TRANSPORT_DEFAULTS.maxQueuedBytes,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? TRANSPORT_DEFAULTS.connectTimeoutMs,
      maxBatchBytes: this.maxMessageBytes - FRAME_RESERVE_BYTES - Buffer.byteLength(this.opts.clusterId),
      unreachable: (p) => this.reportUnreachable(p),
    });
    const peer: Peer = { addr, client, link, pipe: undefined };
    this.peers.set(id, peer);
    this.logger.debug({ peer: id, addr }, 'peer channel created');
    return peer;
  }

  private peerOrThrow(id: NodeId): Peer {
    if (this.stopped) throw new PeerError(grpc.status.CANCELLED, 'peer transport stopped');
    const peer = this.peer(id);
    if (peer === undefined) throw new PeerError(grpc.status.UNAVAILABLE, `no address for peer ${id}`);
    return peer;
  }

  /** `reason` fails unanswered forwards; without one (a peer removed or moved) they may finish. */
  private disconnect(id: NodeId, reason: PeerError | undefined): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    this.peers.delete(id);
    peer.link.close();
    if (reason === undefined) peer.pipe?.drain();
    else peer.pipe?.close(reason);
    // Calls in flight on this channel (snapshot, forward) finish or fail on their own.
    peer.client.close();
  }

  /** A failed call's error for the caller; after stop() every call fails with CANCELLED. */
  private callError(e: grpc.ServiceError): PeerError {
    return this.stopped
      ? new PeerError(grpc.status.CANCELLED, 'peer transport stopped')
      : fromServiceError(e);
  }

  /** Applies the send-side fault points to a snapshot or forward. */
  private async faultsFor(to: NodeId): Promise<void> {
    if (this.stopped) throw new PeerError(grpc.status.CANCELLED, 'peer transport stopped');
    if (this.faults.drop(to)) throw new PeerError(grpc.status.UNAVAILABLE, 'dropped by fault injection');
    const delay = this.faults.delayMs(to);
    if (delay > 0) await this.sleep(delay);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s: Sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(s);
          resolve();
        }, ms),
        cancel: reject,
      };
      this.sleepers.add(s);
    });
  }

  private reportUnreachable(id: NodeId): void {
    if (this.unreachable.has(id)) return;
    this.unreachable.add(id);
    if (this.unreachable.size > 1) return; // a drain is already scheduled
    queueMicrotask(() => {
      const ids = [...this.unreachable];
      this.unreachable.clear();
      const cb = this.onUnreachable;
      if (cb === undefined || this.stopped) return;
      for (const p of ids) {
        try {
          cb(p);
        } catch (e) {
          this.logger.error(
            { peer: p, err: e instanceof Error ? e.message : String(e) },
            'onUnreachable threw',
          );
        }
      }
    });
  }
}
