/**
 * One member as seen by the client: a lazily opened channel shared by the Arbor and Cluster
 * services, and at most one live pipelined request stream on it.
 */
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { CancelledError, toArborError, type ArborError } from './errors.js';
import { loadArborProtos } from './proto.js';
import { RequestStream } from './request-stream.js';
import { UNARY_METHOD, type WireOpName, type WireOps, type WireWatchRequest } from './wire.js';
import { WatchMux, type WatchLine, type WatchLineHandlers } from './watch-line.js';

type UnaryCallback = (err: grpc.ServiceError | null, res?: unknown) => void;
type UnaryMethod = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: UnaryCallback,
) => grpc.ClientUnaryCall;

/** One unary RPC bounded by `deadline` (epoch ms) and cancelled by `signal`. */
/** How often an idle connection is pinged, and how long a ping may go unanswered. */
const KEEPALIVE_TIME_MS = 5_000;
const KEEPALIVE_TIMEOUT_MS = 3_000;

export function unaryCall<Res>(
  client: grpc.Client,
  method: string,
  req: unknown,
  deadline: number,
  signal?: AbortSignal,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError('aborted by caller', { cause: signal.reason }));
      return;
    }
    const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[method];
    if (!fn) {
      reject(new Error(`no such method: ${method}`));
      return;
    }
    const onAbort = (): void => call.cancel();
    const call = fn.call(client, req, new grpc.Metadata(), { deadline: new Date(deadline) }, (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        reject(
          signal?.aborted && err.code === Status.CANCELLED
            ? new CancelledError('aborted by caller', { cause: signal.reason })
            : toArborError(err),
        );
      } else resolve(res as Res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Endpoint {
  private arbor: grpc.Client | undefined;
  private cluster: grpc.Client | undefined;
  private auth: grpc.Client | undefined;
  private stream: RequestStream | undefined;
  private watches: WatchMux | undefined;
  /** Set when the member answered Stream with UNIMPLEMENTED: use unary RPCs from then on. */
  private streamUnsupported = false;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly credentials: grpc.ChannelCredentials,
    /** Client interceptors (the bearer token), on every service of this member. */
    private readonly interceptors: grpc.Interceptor[] = [],
    /** A TCP connection of its own rather than one shared with other clients in the process. */
    private readonly ownConnection = false,
  ) {}

  arborClient(): grpc.Client {
    if (this.closed) throw new CancelledError('client closed');
    if (!this.arbor) {
      const { Arbor } = loadArborProtos();
      // Keepalive pings notice a member that stopped answering without closing the connection
      // (paused, partitioned away): its streams fail and watches/sessions move to another member.
      this.arbor = new Arbor(this.address, this.credentials, {
        'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
        'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
        'grpc.keepalive_permit_without_calls': 1,
        ...(this.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
        interceptors: this.interceptors,
      });
    }
    return this.arbor;
  }

  authClient(): grpc.Client {
    if (!this.auth) {
      const { Auth } = loadArborProtos();
      this.auth = new Auth(this.address, this.credentials, {
        channelOverride: this.arborClient().getChannel(),
        interceptors: this.interceptors,
      });
    }
    return this.auth;
  }

  /**
   * New requests go on a new stream (carrying the current token); the old one is closed once its
   * in-flight requests are answered. Metadata is fixed when a stream opens, so this is how a
   * renewed token reaches the pipelined stream.
   */
  renewStream(): void {
    const old = this.stream;
    this.stream = undefined;
    if (!old) return;
    const closeWhenIdle = (): void => {
      if (old.inFlight === 0 || old.broken) old.close();
      else setTimeout(closeWhenIdle, 100).unref();
    };
    closeWhenIdle();
  }

  clusterClient(): grpc.Client {
    if (!this.cluster) {
      const { Cluster } = loadArborProtos();
      // Share the Arbor client's channel: one HTTP/2 connection per member.
      this.cluster = new Cluster(this.address, this.credentials, {
        channelOverride: this.arborClient().getChannel(),
        interceptors: this.interceptors,
      });
    }
    return this.cluster;
  }

  /** Send one operation, pipelined on the member's stream unless unary is asked for. */
  invoke<K extends WireOpName>(
    transport: 'stream' | 'unary',
    op: K,
    req: WireOps[K]['req'],
    deadline: number,
    signal?: AbortSignal,
  ): Promise<WireOps[K]['res']> {
    if (transport === 'stream' && !this.streamUnsupported) {
      return this.requestStream().send(op, req, deadline, signal);
    }
    return unaryCall<WireOps[K]['res']>(this.arborClient(), UNARY_METHOD[op], req, deadline, signal);
  }

  private requestStream(): RequestStream {
    if (!this.stream || this.stream.broken) {
      this.stream = new RequestStream(this.arborClient(), (s, cause) => this.onStreamBroken(s, cause));
    }
    return this.stream;
  }

  /** Opens a watch on this member, sharing its WatchMany stream with the client's other watches. */
  openWatch(req: WireWatchRequest, h: WatchLineHandlers): WatchLine {
    this.watches ??= new WatchMux(() => this.arborClient());
    return this.watches.open(req, h);
  }

  private onStreamBroken(s: RequestStream, cause: ArborError): void {
    if (this.stream === s) this.stream = undefined;
    if (cause.code === Status.UNIMPLEMENTED) this.streamUnsupported = true;
  }

  close(): void {
    this.closed = true;
    this.stream?.close();
    this.stream = undefined;
    this.watches?.close();
    this.watches = undefined;
    this.cluster?.close();
    this.auth?.close();
    this.arbor?.close();
    this.cluster = undefined;
    this.auth = undefined;
    this.arbor = undefined;
  }
}
