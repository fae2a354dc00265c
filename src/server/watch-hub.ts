/**
 * Watch streams of this member. Events are produced at apply time (etcd's watchable store) and
 * fanned out synchronously to per-watcher sinks; a sink that cannot keep up is cut off with a
 * retryable error naming the revision to resume from, never allowed to block apply.
 * Registration and history replay happen in one synchronous step, so a new watcher sees every
 * event after start_revision exactly once: replay covers up to the applied revision, live events
 * come after it.
 */
import { MemberError } from './errors.js';
import type { TreeEvent } from '../tree/events.js';
import type { WatchScope } from '../tree/watch-index.js';
import { WatchIndex } from '../tree/watch-index.js';
import type { ZPath } from '../tree/path.js';
import { EventLog } from '../tree/event-log.js';

export type WatchOut =
  | { readonly type: 'created'; readonly revision: number }
  | { readonly type: 'events'; readonly revision: number; readonly events: readonly TreeEvent[] }
  | { readonly type: 'progress'; readonly revision: number };

export interface WatchSink {
  /** Returns false when the transport is backed up (the message is still queued). */
  send(out: WatchOut): boolean;
  close(err?: MemberError): void;
  /**
   * Whether the watcher may see this event (READ on the event's node, as of its ACL then).
   * Events it may not see are dropped before delivery, replay included. Absent: all.
   */
  visible?(e: TreeEvent): boolean;
}

interface Watcher {
  readonly id: number;
  readonly sink: WatchSink;
  /** Events queued in the transport beyond its buffer; reset when the sink drains. */
  backlog: number;
  lastSentRevision: number;
  lastActivity: number;
  /**
   * Events below this revision are never sent: a watch may start at a revision this member has
   * not applied yet (it lags the member that answered the client's write).
   */
  readonly from: number;
  /** publish(): the events of the batch being fanned out that concern this watcher, if `stamp` is current. */
  due: TreeEvent[];
  stamp: number;
  /** False once cancelled: a send during publish() may cancel watchers matched before it. */
  live: boolean;
}

/** A watcher's `due` between publish() calls; never pushed to (publish starts a new list first). */
const NONE: TreeEvent[] = [];

export interface WatchHubOptions {
  /** Events a lagging watcher may have queued before it is cut off. */
  readonly maxBacklog: number;
  readonly historyEvents: number;
  readonly historyBytes: number;
}

export class WatchHub {
  private index = new WatchIndex<Watcher>();
  /** Tells publish() calls apart, so each can collect per-watcher events without a map of its own. */
  private stamp = 0;
  private readonly watchers = new Map<number, Watcher>();
  private log: EventLog;
  private nextId = 1;

  /** `startRevision`: history before it is unavailable (it is in memory only). */
  constructor(
    private readonly opts: WatchHubOptions,
    startRevision = 0,
  ) {
    this.log = new EventLog({ maxEvents: opts.historyEvents, maxBytes: opts.historyBytes, startRevision });
  }

  get count(): number {
    return this.watchers.size;
  }

  /** Events a lagging consumer may have queued before it is cut off (WatchMany applies it per stream). */
  get maxBacklog(): number {
    return this.opts.maxBacklog;
  }

  /**
   * Opens a watch. `applied` is the member's applied revision right now; history replay covers
   * (startRevision-1, applied], live events follow. Throws outOfRange when history is gone.
   */
  open(
    path: ZPath,
    scope: WatchScope,
    startRevision: number,
    applied: number,
    sink: WatchSink,
    now: number,
  ): number {
    let replay: readonly TreeEvent[] = [];
    if (startRevision > 0 && startRevision <= applied) {
      const r = this.log.since(startRevision);
      if (!Array.isArray(r)) {
        const oldest = r.compacted;
        throw new MemberError(
          'outOfRange',
          `start_revision ${startRevision} is older than the retained history; the oldest available revision is ${oldest}`,
          { compactRevision: oldest },
        );
      }
      const one = new WatchIndex<number>();
      one.register(0, path, scope);
      replay = r.filter((e) => one.match(e).length > 0);
    }
    const id = this.nextId++;
    const w: Watcher = {
      id,
      sink,
      backlog: 0,
      lastSentRevision: applied,
      lastActivity: now,
      from: startRevision,
      due: NONE,
      stamp: 0,
      live: true,
    };
    this.watchers.set(id, w);
    this.index.register(w, path, scope);
    sink.send({ type: 'created', revision: applied });
    if (replay.length > 0) this.deliver(w, replay, applied);
    return id;
  }

  cancel(id: number): void {
    const w = this.watchers.get(id);
    if (w === undefined) return;
    w.live = false;
    this.watchers.delete(id);
    this.index.unregister(w);
  }

  /** The sink drained its buffer. */
  drained(id: number): void {
    const w = this.watchers.get(id);
    if (w) w.backlog = 0;
  }

  /** Fan out the events of one applied batch (all with revision <= `revision`). */
  publish(events: readonly TreeEvent[], revision: number, now: number): void {
    if (events.length === 0) return;
    this.log.append(events);
    if (this.watchers.size === 0) return;
    if (events.length === 1) {
      // One entry, one event (most writes): each matched watcher gets exactly `events`.
      const e = events[0] as TreeEvent;
      for (const w of this.index.match(e)) {
        if (!w.live || e.revision < w.from) continue;
        w.lastActivity = now;
        this.deliver(w, events, revision);
      }
      return;
    }
    const stamp = ++this.stamp;
    const touched: Watcher[] = [];
    for (const e of events) {
      for (const w of this.index.match(e)) {
        if (w.stamp !== stamp) {
          w.stamp = stamp;
          w.due = [e];
          touched.push(w);
        } else w.due.push(e);
      }
    }
    for (const w of touched) {
      const list = w.due;
      w.due = NONE;
      // A sink's send may have cancelled this watcher (a cut-off) after it was matched.
      if (!w.live) continue;
      const due =
        w.from > 0 && (list[0] as TreeEvent).revision < w.from
          ? list.filter((e) => e.revision >= w.from)
          : list;
      if (due.length === 0) continue;
      w.lastActivity = now;
      this.deliver(w, due, revision);
    }
  }

  /** Periodic progress for idle watchers, so clients learn the revision they are current at. */
  progress(revision: number, now: number, idleMs: number): void {
    for (const w of this.watchers.values()) {
      if (now - w.lastActivity >= idleMs && w.backlog === 0) {
        w.lastActivity = now;
        w.sink.send({ type: 'progress', revision });
      }
    }
  }

  /** The member's state jumped (snapshot installed): history no longer connects. */
  reset(revision: number, err: MemberError): void {
    for (const w of this.watchers.values()) {
      w.live = false;
      w.sink.close(err);
    }
    this.watchers.clear();
    this.index = new WatchIndex<Watcher>();
    this.log = new EventLog({
      maxEvents: this.opts.historyEvents,
      maxBytes: this.opts.historyBytes,
      startRevision: revision,
    });
  }

  closeAll(err: MemberError): void {
    for (const w of this.watchers.values()) {
      w.live = false;
      w.sink.close(err);
    }
    this.watchers.clear();
    this.index = new WatchIndex<Watcher>();
  }

  private deliver(w: Watcher, all: readonly TreeEvent[], revision: number): void {
    const events = visibleTo(w.sink, all);
    if (events.length === 0) return;
    const ok = w.sink.send({ type: 'events', revision, events });
    w.lastSentRevision = revision;
    if (!ok) {
      w.backlog += events.length;
      if (w.backlog > this.opts.maxBacklog) {
        this.cancel(w.id);
        w.sink.close(
          new MemberError(
            'resourceExhausted',
            `watch consumer too slow (over ${this.opts.maxBacklog} events queued at revision ${revision}); resume from the last revision received + 1`,
          ),
        );
      }
    }
  }
}

/** `all`, or a copy without what the sink may not see; no copy when it may see everything (the rule). */
function visibleTo(sink: WatchSink, all: readonly TreeEvent[]): readonly TreeEvent[] {
  if (sink.visible === undefined) return all;
  let i = 0;
  while (i < all.length && sink.visible(all[i] as TreeEvent)) i++;
  if (i === all.length) return all;
  const some = all.slice(0, i);
  for (i++; i < all.length; i++) if (sink.visible(all[i] as TreeEvent)) some.push(all[i] as TreeEvent);
  return some;
}
