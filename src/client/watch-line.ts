/**
 * How a Watcher reaches a member: a `WatchLine` delivers one watch's responses and ends once.
 * By default every watch of a client on one member shares that member's `WatchMany` stream
 * (etcd's design: one HTTP/2 stream per connection, not per watch), routed by a watch id chosen
 * here. A member that does not know `WatchMany` (UNIMPLEMENTED) is remembered, and its watches,
 * the one that found out included, each get a `Watch` call of their own instead.
 *
 * Flow control: a shared stream is never paused for one watch (that would stall every other
 * watch on it); a Watcher whose consumer lags parks instead: it leaves the stream and re-opens
 * from its own revision once its queue drains (watch.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { UnavailableError, errorFromStatus, toArborError, type ArborError } from './errors.js';
import { unpacked, type WireWatchManyResponse } from './watch-decode.js';
import type { WireWatchRequest, WireWatchResponse } from './wire.js';

export interface WatchLineHandlers {
  data(res: WireWatchResponse): void;
  /** The line is over (called at most once, never after cancel()). */
  broken(e: ArborError): void;
}

export interface WatchLine {
  /** Shared with other watches: pause()/resume() do nothing, a lagging watch leaves instead. */
  readonly shared: boolean;
  pause(): void;
  resume(): void;
  /** Ends the watch; no handler is called afterwards. */
  cancel(): void;
}

type ManyCall = grpc.ClientDuplexStream<unknown, WireWatchManyResponse>;
type WatchCall = grpc.ClientReadableStream<WireWatchResponse>;

/** One `Watch` call per watch: the contract every member version serves. */
export function singleWatchLine(client: grpc.Client, req: WireWatchRequest, h: WatchLineHandlers): WatchLine {
  const open = (client as unknown as Record<string, (r: unknown) => WatchCall>)['Watch']!;
  const call = open.call(client, req);
  let over = false;
  const end = (e: ArborError): void => {
    if (over) return;
    over = true;
    h.broken(e);
  };
  call.on('data', (res: WireWatchResponse) => {
    if (!over) h.data(res);
  });
  call.on('error', (e: unknown) => end(toArborError(e)));
  // grpc-js reports a non-OK status as 'error'; an OK status means the server just ended.
  call.on('status', (st: grpc.StatusObject) => {
    if (st.code === Status.OK) end(new UnavailableError('watch stream ended by server'));
  });
  return {
    shared: false,
    pause: () => call.pause(),
    resume: () => call.resume(),
    cancel: () => {
      over = true;
      call.cancel();
    },
  };
}

interface Sub {
  readonly req: WireWatchRequest;
  readonly h: WatchLineHandlers;
  /** Set when the watch moved to a Watch call of its own (the member lacks WatchMany). */
  fallback: WatchLine | undefined;
}

/** The watches of one client on one member, over one `WatchMany` stream at a time. */
export class WatchMux {
  private call: ManyCall | undefined;
  private readonly subs = new Map<string, Sub>();
  private nextId = 1;
  /** The member answered WatchMany with UNIMPLEMENTED: every watch gets a Watch call. */
  private unsupported = false;

  constructor(private readonly client: () => grpc.Client) {}

  open(req: WireWatchRequest, h: WatchLineHandlers): WatchLine {
    if (this.unsupported) return singleWatchLine(this.client(), req, h);
    const id = String(this.nextId++);
    const sub: Sub = { req, h, fallback: undefined };
    this.subs.set(id, sub);
    const call = this.stream();
    call.write({
      create: {
        watchId: id,
        path: req.path,
        scope: req.scope,
        startRevision: req.startRevision,
        batch: true,
      },
    });
    return {
      shared: true,
      pause: () => sub.fallback?.pause(),
      resume: () => sub.fallback?.resume(),
      cancel: () => {
        if (sub.fallback) return sub.fallback.cancel();
        if (!this.subs.delete(id)) return;
        const c = this.call;
        if (c === undefined) return;
        if (this.subs.size === 0) {
          // The last watch: drop the stream (the member cancels what is left on it).
          this.call = undefined;
          c.cancel();
        } else c.write({ cancel: { watchId: id } });
      },
    };
  }

  /** Ends every watch's stream (client closing). */
  close(): void {
    const c = this.call;
    this.call = undefined;
    this.subs.clear();
    c?.cancel();
  }

  private stream(): ManyCall {
    if (this.call) return this.call;
    const client = this.client();
    const open = (client as unknown as Record<string, () => ManyCall>)['WatchMany']!;
    const call = open.call(client);
    this.call = call;
    call.on('data', (res: WireWatchManyResponse) => {
      if (this.call !== call) return;
      for (const r of unpacked(res)) this.route(r);
    });
    let over = false;
    const end = (e: ArborError): void => {
      if (over) return;
      over = true;
      if (this.call === call) this.call = undefined;
      this.streamEnded(e);
    };
    call.on('error', (e: unknown) => end(toArborError(e)));
    call.on('status', (st: grpc.StatusObject) => {
      if (st.code === Status.OK) end(new UnavailableError('watch stream ended by server'));
    });
    return call;
  }

  private route(res: WireWatchManyResponse): void {
    const id = res.watchId;
    const sub = this.subs.get(id);
    if (sub === undefined) return; // cancelled here; the member's answers may still be on their way
    if (res.canceled) {
      this.subs.delete(id);
      if (res.compactRevision !== '0' && res.compactRevision !== '') {
        // History compacted: delivered as Watch delivers it, so the Watcher fails with OUT_OF_RANGE.
        sub.h.data({
          created: false,
          revision: res.revision,
          events: [],
          progress: false,
          compactRevision: res.compactRevision,
        });
        return;
      }
      const e = res.error;
      sub.h.broken(
        e && e.code !== Status.OK
          ? errorFromStatus(e.code, e.message)
          : new UnavailableError('the member ended the watch'),
      );
      return;
    }
    sub.h.data({
      created: res.created,
      revision: res.revision,
      events: res.events,
      progress: res.progress,
      compactRevision: '0',
    });
  }

  private streamEnded(e: ArborError): void {
    const subs = [...this.subs.values()];
    this.subs.clear();
    if (e.code === Status.UNIMPLEMENTED) {
      // An older member: nothing was delivered on this stream, so the same requests go on.
      this.unsupported = true;
      for (const s of subs) s.fallback = singleWatchLine(this.client(), s.req, s.h);
      return;
    }
    for (const s of subs) s.h.broken(e);
  }
}
