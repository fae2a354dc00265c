/**
 * `WatchMany`: many watches multiplexed over one bidirectional stream, etcd's Watch design. A
 * single-watch `Watch` call costs one HTTP/2 stream (and its buffers) per watch; here a client
 * opens one stream per connection and creates and cancels watches on it by a client-chosen
 * `watch_id`, which tags every response.
 *
 * Each watch is opened through the same code path as `Watch` (validation, READ check, the
 * per-connection watch budget, the hub's replay and OUT_OF_RANGE) and filtered per event by the
 * same READ rule. A refused or failed watch is answered with `canceled` + `error` for its id; the
 * stream and its other watches go on.
 *
 * Flow control is per stream, not per watch: the hub is told every send succeeded, and the stream
 * counts what it queued while the transport was backed up. One 'drain' clears it for every watch
 * (telling the hub per watch would cost O(watches) per drain). A stream whose backlog passes the
 * hub's limit is cut off with RESOURCE_EXHAUSTED, as a slow `Watch` is, so a slow consumer never
 * blocks apply nor holds unbounded memory.
 *
 * Watches created with `batch` have their responses packed: what one turn of the event loop (one
 * or more synchronous fan-outs, answers to controls) produces for the stream's batch watches goes
 * out as one message (several past 256 KiB), flushed in a microtask. One write watched ten times on a stream is then one gRPC message, not ten; the
 * per-message cost (framing, an HTTP/2 DATA frame, the client's decode call) was most of the
 * member's cost per delivered event.
 */
import * as grpc from '@grpc/grpc-js';
import { MemberError } from '../server/errors.js';
import type { WatchOut, WatchSink } from '../server/watch-hub.js';
import type { TreeEvent } from '../tree/events.js';
import type { Identity } from '../tree/acl.js';
import type { ConnectionCounts, ConnectionLimits } from './connection-limits.js';
import { u64 } from './convert.js';
import { WatchFlag, WatchManyBatch, type WatchEncoder, type WatchId } from './watch-encoding.js';
import { invalid, serviceError, toStatus } from './status.js';

type Msg = Record<string, unknown>;
/** Responses are objects for grpc-js to serialize, or bytes already encoded (watch-encoding.ts). */
type Call = grpc.ServerDuplexStream<unknown, Msg | Buffer>;

/** A batch message is at most this big, or one response (clients accept 4 MiB by default). */
const MAX_BATCH_BYTES = 256 * 1024;

interface Open {
  readonly hub: number;
  /** Its watch_id as responses encode it. */
  readonly wireId: WatchId;
  /** The client reads packed responses for this watch (WatchCreateRequest.batch). */
  readonly batch: boolean;
}

export interface WatchManyDeps {
  readonly connections: ConnectionLimits;
  /** Events a stream may have queued while backed up before it is cut off. */
  readonly maxBacklog: number;
  identify(call: Call): Identity | undefined;
  /** Whether `who` may see `e` (READ on its node as of then); decided per event at delivery. */
  visible(e: TreeEvent, who: Identity | undefined): boolean;
  /** Validates, checks READ and the budget, counts the watch on `conn`, registers `sink`; throws on refusal. */
  open(req: unknown, who: Identity | undefined, conn: ConnectionCounts, sink: WatchSink): number;
  cancel(hubId: number): void;
  readonly encoder: WatchEncoder;
}

export function watchManyHandler(d: WatchManyDeps): (call: Call) => void {
  return (call) => {
    new WatchManyStream(d, call);
  };
}

class WatchManyStream {
  /** Open watches by client watch_id (decimal string). Invariant: each is counted once on `conn`. */
  private readonly watches = new Map<string, Open>();
  /** Responses of batch watches not yet written; flushed by the microtask `flushQueued` stands for. */
  private readonly batch = new WatchManyBatch(MAX_BATCH_BYTES, (message, weight) =>
    this.writeNow(message, weight),
  );
  private flushQueued = false;
  /** Events (1 per other message) written while the transport was backed up; 0 after 'drain'. */
  private backlog = 0;
  /** Set once: no more writes, every watch is cancelled and uncounted. */
  private closed = false;
  private readonly conn: ConnectionCounts;

  constructor(
    private readonly d: WatchManyDeps,
    private readonly call: Call,
  ) {
    this.conn = d.connections.of(call);
    // Hold the entry even while no watch is open, so the counts of this connection stay shared.
    d.connections.hold(this.conn);
    call.on('data', (m: unknown) => this.control(m as Msg));
    // A client that half-closes is done with its watches (etcd ends the stream on EOF too).
    call.on('end', () => this.finish(undefined, true));
    call.on('drain', () => {
      this.backlog = 0;
    });
    const gone = (): void => this.finish(undefined, false);
    call.on('cancelled', gone);
    call.on('close', gone);
    call.on('error', gone);
  }

  visible(e: TreeEvent, who: Identity | undefined): boolean {
    return this.d.visible(e, who);
  }

  private control(m: Msg): void {
    if (this.closed) return;
    // Nothing thrown here may escape: it would be an uncaught exception in the member.
    try {
      switch (m.request) {
        case 'create':
          this.create(m.create as Msg);
          return;
        case 'cancel':
          this.cancel(m.cancel as Msg);
          return;
        default:
          throw invalid('WatchControl sets neither create nor cancel');
      }
    } catch (e) {
      this.finish(e, true);
    }
  }

  private create(req: Msg): void {
    const wid = u64(req, 'watch_id').toString();
    if (this.watches.has(wid)) {
      // A client bug, not a per-watch condition: answering `canceled` for the id would read as the
      // end of the watch that is still open under it.
      throw invalid(`watch_id ${wid} is already open on this stream: choose a new id per watch`);
    }
    const batch = req.batch === true;
    const wireId = this.d.encoder.watchId(wid);
    const sink = new StreamSink(this, wid, wireId, batch);
    try {
      const who = this.d.identify(this.call);
      sink.who = who;
      // The hub sends `created` (and any replay) inside open, before the id is known here.
      const id = this.d.open(req, who, this.conn, sink);
      if (this.closed) {
        // Those very writes overflowed the backlog and ended the stream.
        this.d.cancel(id);
        this.d.connections.leaveWatch(this.conn);
        return;
      }
      this.watches.set(wid, { hub: id, wireId, batch });
    } catch (e) {
      this.refuse(wid, batch, e);
    }
  }

  private cancel(req: Msg): void {
    const wid = u64(req, 'watch_id').toString();
    const w = this.watches.get(wid);
    // Unknown or already over (cut off, refused): its `canceled` was sent then.
    if (w === undefined) return;
    this.watches.delete(wid);
    this.d.cancel(w.hub);
    this.d.connections.leaveWatch(this.conn);
    this.flag(w.wireId, WatchFlag.canceled, 0, w.batch);
  }

  /** The hub ended a watch (member reset or shutdown); it has already forgotten it. */
  ended(wid: string, err: MemberError | undefined): void {
    const w = this.watches.get(wid);
    if (w === undefined) return;
    this.watches.delete(wid);
    this.d.connections.leaveWatch(this.conn);
    if (err) this.refuse(wid, w.batch, err);
    else this.flag(w.wireId, WatchFlag.canceled, 0, w.batch);
  }

  private refuse(wid: string, batch: boolean, e: unknown): void {
    const st = toStatus(e);
    const res: Msg = {
      watch_id: wid,
      canceled: true,
      error: { code: st.code, message: st.details, failed_op: -1 },
    };
    if (st.compactRevision) res.compact_revision = st.compactRevision;
    this.write(res, 1, batch);
  }

  /** Always true for the hub: this stream, not the hub, tracks its backlog (see the file comment). */
  send(wid: string, wireId: WatchId, batch: boolean, out: WatchOut): boolean {
    switch (out.type) {
      case 'created':
        this.flag(wireId, WatchFlag.created, out.revision, batch);
        break;
      case 'progress':
        // A backed-up stream will deliver newer revisions anyway; the hub skips lagging watchers too.
        if (this.backlog === 0) this.flag(wireId, WatchFlag.progress, out.revision, batch);
        break;
      case 'events':
        if (batch) this.pack(wireId, out.revision, out.events);
        else
          this.direct(
            this.d.encoder.watchMany(wireId, out.revision, out.events),
            out.events.length,
            out.revision,
          );
        break;
    }
    return true;
  }

  private flag(wireId: WatchId, flag: WatchFlag, revision: number, batch: boolean): void {
    if (!batch) return this.direct(this.d.encoder.flag(wireId, flag, revision), 1);
    if (this.closed) return;
    this.d.encoder.packFlag(this.batch, wireId, flag, revision);
    this.queued();
  }

  private write(res: Msg, weight: number, batch: boolean): void {
    if (!batch) return this.direct(res, weight);
    if (this.closed) return;
    this.d.encoder.packMessage(this.batch, res);
    this.queued();
  }

  private pack(wireId: WatchId, revision: number, events: readonly TreeEvent[]): void {
    if (this.closed) return;
    this.d.encoder.pack(this.batch, wireId, revision, events);
    this.queued();
  }

  /** An entry was added to the batch: it goes out by the end of this turn (or once full). */
  private queued(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.batch.flush();
    });
  }

  /**
   * A response of a watch without batch. What is packed goes first: the stream stays in the
   * order responses were produced (a watch_id may be reused once its watch has ended, and the
   * old watch's last answer must come before the new one's first).
   */
  private direct(res: Msg | Buffer, weight: number, revision?: number): void {
    this.batch.flush();
    this.writeNow(res, weight, revision);
  }

  private writeNow(res: Msg | Buffer, weight: number, revision?: number): void {
    if (this.closed || this.call.destroyed || !this.call.writable) return;
    if (this.call.write(res)) return;
    this.backlog += weight;
    if (this.backlog > this.d.maxBacklog) {
      this.finish(
        new MemberError(
          'resourceExhausted',
          `WatchMany stream too slow (over ${this.d.maxBacklog} events queued` +
            (revision === undefined ? '' : ` at revision ${revision}`) +
            '); open the watches again, each from the last revision it received + 1',
        ),
        true,
      );
    }
  }

  /** Ends every watch of the stream; `err` ends the call with that status, else cleanly if `endCall`. */
  private finish(err: unknown, endCall: boolean): void {
    if (this.closed) return;
    // What was produced before a clean end still goes out; after an error nothing more is due.
    if (err === undefined) this.batch.flush();
    // That flush may itself have overflowed the backlog and finished the stream.
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches.values()) {
      this.d.cancel(w.hub);
      this.d.connections.leaveWatch(this.conn);
    }
    this.watches.clear();
    this.d.connections.release(this.conn);
    if (!endCall || this.call.destroyed) return;
    if (err !== undefined) this.call.emit('error', serviceError(toStatus(err)));
    else if (this.call.writable) this.call.end();
  }
}

/**
 * One watch's sink: an object of its own rather than three closures, so the fan-out reaches
 * the watch's fields in one hop (and 100k watches hold less).
 */
class StreamSink implements WatchSink {
  /** Who opened the watch: its READ rights decide which events it sees. */
  who: Identity | undefined;

  constructor(
    private readonly stream: WatchManyStream,
    private readonly wid: string,
    private readonly wireId: WatchId,
    private readonly batch: boolean,
  ) {}

  visible(e: TreeEvent): boolean {
    return this.stream.visible(e, this.who);
  }

  send(out: WatchOut): boolean {
    return this.stream.send(this.wid, this.wireId, this.batch, out);
  }

  close(err?: MemberError): void {
    this.stream.ended(this.wid, err);
  }
}
