/**
 * The simulated network: messages are delivered after a random delay (so they reorder), may be
 * dropped or duplicated, and are cut by symmetric or one-way partitions. Deterministic per seed.
 */
import type { Message } from '../../../src/raft/messages.js';
import type { Rng } from '../../../src/util/rng.js';

export interface NetOptions {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  dup: number;
  /** Delivery delay in steps, uniform in [1, maxDelay]. */
  maxDelay: number;
}

export const RELIABLE: NetOptions = { drop: 0, dup: 0, maxDelay: 1 };

interface InFlight {
  due: number;
  seq: number;
  m: Message;
}

export class SimNetwork {
  private inflight: InFlight[] = [];
  private seq = 0;
  /** Directed cuts "from>to". */
  private readonly cuts = new Set<string>();
  /** Called when a snapshot message is dropped (the transport reports failure). */
  onSnapDropped: (m: Message) => void = () => undefined;

  constructor(
    private readonly rng: Rng,
    public opts: NetOptions,
  ) {}

  cut(from: number, to: number): void {
    this.cuts.add(`${from}>${to}`);
  }

  isolate(id: number, all: readonly number[]): void {
    for (const o of all) {
      if (o === id) continue;
      this.cut(id, o);
      this.cut(o, id);
    }
  }

  /** Splits members into groups that cannot talk to each other. */
  partition(groups: readonly (readonly number[])[]): void {
    for (const a of groups)
      for (const b of groups) if (a !== b) for (const x of a) for (const y of b) this.cut(x, y);
  }

  heal(): void {
    this.cuts.clear();
  }

  blocked(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  get size(): number {
    return this.inflight.length;
  }

  send(m: Message, now: number): void {
    if (this.blocked(m.from, m.to) || this.rng.float() < this.opts.drop) {
      if (m.type === 'snap') this.onSnapDropped(m);
      return;
    }
    this.push(m, now);
    if (this.rng.float() < this.opts.dup) this.push(m, now);
  }

  private push(m: Message, now: number): void {
    const due = now + 1 + this.rng.int(this.opts.maxDelay);
    this.inflight.push({ due, seq: this.seq++, m });
  }

  /** Removes and returns the messages due by `now`, in delivery order. Cut links drop them. */
  takeDue(now: number): Message[] {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.inflight) (f.due <= now ? due : rest).push(f);
    this.inflight = rest;
    due.sort((a, b) => a.due - b.due || a.seq - b.seq);
    const out: Message[] = [];
    for (const f of due) {
      if (this.blocked(f.m.from, f.m.to)) {
        if (f.m.type === 'snap') this.onSnapDropped(f.m);
        continue;
      }
      out.push(f.m);
    }
    return out;
  }

  /** Everything in flight, ignoring delays (for stabilize() in scenario tests). */
  takeAll(): Message[] {
    return this.takeDue(Number.POSITIVE_INFINITY);
  }

  clear(): void {
    for (const f of this.inflight) if (f.m.type === 'snap') this.onSnapDropped(f.m);
    this.inflight = [];
  }
}
