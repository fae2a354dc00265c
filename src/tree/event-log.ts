/**
 * A bounded history of recent events (by count and by bytes) to replay a watch from a start
 * revision, like etcd's watchable store serving lagging watchers from history. Whole revisions
 * are evicted together, so a replay never returns half of a multi.
 */
import { eventSize, type TreeEvent } from './events.js';

export interface EventLogOptions {
  readonly maxEvents: number;
  readonly maxBytes: number;
  /**
   * Events of revisions <= this are not available (e.g. the revision the member restarted at:
   * the log is in memory only). Default 0.
   */
  readonly startRevision?: number;
}

export class EventLog {
  private events: TreeEvent[] = [];
  private head = 0;
  private bytes = 0;
  /** Invariant: every event with revision <= compactedThrough is gone; all later ones are kept. */
  private compactedThrough: number;
  private lastRevision: number;

  constructor(private readonly opts: EventLogOptions) {
    this.compactedThrough = opts.startRevision ?? 0;
    this.lastRevision = this.compactedThrough;
  }

  get length(): number {
    return this.events.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** The oldest revision a replay can start from. */
  get oldestRevision(): number {
    return this.compactedThrough + 1;
  }

  /** Appends the events of one applied entry (all of one revision, in apply order). */
  append(events: readonly TreeEvent[]): void {
    for (const e of events) {
      if (e.revision < this.lastRevision) {
        throw new RangeError(
          `event revision ${e.revision} after ${this.lastRevision}: events must be appended in order`,
        );
      }
      this.lastRevision = e.revision;
      this.events.push(e);
      this.bytes += eventSize(e);
    }
    this.evict();
  }

  private evict(): void {
    while (this.length > this.opts.maxEvents || (this.bytes > this.opts.maxBytes && this.length > 0)) {
      const rev = (this.events[this.head] as TreeEvent).revision;
      while (this.head < this.events.length && (this.events[this.head] as TreeEvent).revision === rev) {
        this.bytes -= eventSize(this.events[this.head] as TreeEvent);
        this.head++;
      }
      this.compactedThrough = rev;
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Every retained event with revision >= `revision`, in order; or, when some of those are gone,
   * the oldest revision still available (the api answers OUT_OF_RANGE with it).
   */
  since(revision: number): TreeEvent[] | { compacted: number } {
    if (revision <= this.compactedThrough) return { compacted: this.compactedThrough + 1 };
    let lo = this.head;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.events[mid] as TreeEvent).revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
  }
}
