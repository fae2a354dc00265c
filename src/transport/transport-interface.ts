/**
 * The contract between the peer transport and the member that owns it. The transport moves
 * opaque bytes between members; it never looks inside a Raft message, a snapshot header or a
 * forwarded request (the member encodes them with the Raft core's codec). Kept apart from the
 * implementation so the server can depend on these shapes without importing gRPC.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { NodeId } from '../util/brand.js';

/** What a member does with what its peers send it. */
export interface PeerHandler {
  /**
   * One received batch, in send order. Called synchronously from the stream's data event, so it
   * must not block; a thrown error is logged and the batch is dropped (Raft tolerates loss).
   */
  onMessages(from: NodeId, messages: Uint8Array[]): void;
  /**
   * A snapshot from the leader: `header` is the first chunk's header, `chunks` yields the data in
   * order and throws if the sender goes away. The sender is acknowledged only after this resolves;
   * a rejection is returned to the sender as an error status (a PeerError keeps its code).
   */
  onSnapshot(from: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * A request forwarded by a follower. `deadlineMs` is the time left until the caller gives up
   * (Infinity when the caller set no deadline). Throw a PeerError to answer with a status code.
   */
  onForward(from: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array>;
}

/**
 * Named fault points on the SEND side (STYLE.md habit 10), consulted per message / snapshot /
 * forward. No-ops in production; scripted by the chaos tests.
 */
export interface TransportFaults {
  /** Extra delay before the item is handed to the stream; 0 for none. */
  delayMs(to: NodeId): number;
  /**
   * Lose the item silently (like the network would): Raft messages vanish without an
   * onUnreachable report; snapshots and forwards fail with UNAVAILABLE.
   */
  drop(to: NodeId): boolean;
}

export const noFaults: TransportFaults = {
  delayMs: () => 0,
  drop: () => false,
};

export interface BackoffOptions {
  /** First retry delay after a stream error. */
  readonly initialMs: number;
  /** Cap on the retry delay. */
  readonly maxMs: number;
}

export interface PeerTransportOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  /** host:port to listen on; port 0 picks a free port (see PeerTransport.port). */
  readonly listenAddr: string;
  /** host:port of every other member; an entry for selfId is ignored. */
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly handler: PeerHandler;
  /** A pino child logger for this component. Payloads are never logged. */
  readonly logger: Logger;
  /** Largest gRPC message on the peer port, both directions. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /** Per-peer outbound queue bound by count (default 4096, like etcd's stream buffer). */
  readonly maxQueuedMessages?: number;
  /** Per-peer outbound queue bound by bytes (default 64 MiB). */
  readonly maxQueuedBytes?: number;
  /**
   * Reconnect backoff for the message stream and the channel (default 50 ms doubling to 1 s,
   * ±20% jitter). Messages to a peer in backoff are dropped, so the cap bounds how long a
   * restarted member waits for the leader's heartbeats: keep it below the election timeout.
   */
  readonly backoff?: BackoffOptions;
  /** A message stream the peer has not accepted within this time is retried (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** HTTP/2 keepalive ping interval on peer channels (default 10 s) and ping timeout (default 5 s). */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /**
   * forward() pipelines requests over one ForwardStream per peer instead of one unary call each
   * (same results and errors; much higher throughput under concurrency). Default false.
   */
  readonly pipelineForwards?: boolean;
  readonly faults?: TransportFaults;
  /** Defaults to insecure; mTLS is configured by the composition root. */
  readonly credentials?: {
    readonly server: grpc.ServerCredentials;
    readonly client: grpc.ChannelCredentials;
  };
  /** Jitter source in [0, 1); defaults to Math.random (an adapter, not the deterministic core). */
  readonly random?: () => number;
}

/** Counters for metrics and tests. Monotonic over the transport's life. */
export interface TransportStats {
  /** Batch frames written to peer streams, and the messages they carried. */
  batchesSent: number;
  messagesSent: number;
  /** Batch frames accepted from peers (after cluster/address checks), and their messages. */
  batchesReceived: number;
  messagesReceived: number;
  /** Outbound messages lost before reaching a stream: overflow, broken stream, unknown peer. */
  messagesDropped: number;
  /** Inbound batches rejected for a wrong cluster id or destination. */
  batchesRejected: number;
  /** Message streams opened (first connection included). */
  streamsOpened: number;
}
