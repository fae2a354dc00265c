/**
 * Watch responses encoded by hand from shared parts. One write fans out to every watch on its
 * node; serializing the same event (its data, its Stat) once per watch was most of the cost of
 * that fan-out. Protobuf lets a message be sent as concatenated encodings of its fields, so a
 * response is a small per-watch head (watch_id, revision) followed by each event's bytes, encoded
 * once per event per turn of the event loop (the fan-out's).
 *
 * The grpc-js serializers of Watch and WatchMany are wrapped to pass such bytes through unchanged
 * (preEncodedResponses); every other response is serialized as before.
 */
import type * as grpc from '@grpc/grpc-js';
import type { TreeEvent } from '../tree/events.js';
import { putUvarint, putUvarintBig, uvarintSize, uvarintSizeBig } from '../util/bytes.js';
import { ProtoWriter } from '../util/proto-writer.js';
import { eventToProto } from './convert.js';
import { statBody } from './response-encode.js';

type Msg = Record<string, unknown>;

type Serialize = (value: unknown) => Buffer;

/** Wire tags (field number << 3 | wire type 2) of the repeated event field in each response. */
const WATCH_EVENTS_TAG = (3 << 3) | 2;
const WATCH_MANY_EVENTS_TAG = (4 << 3) | 2;
/** WatchManyResponse.batch: further WatchManyResponses packed into one message. */
const WATCH_MANY_BATCH_TAG = (9 << 3) | 2;
/** WatchManyResponse.watch_id and .revision (varints). */
const WATCH_ID_TAG = 1 << 3;
const REVISION_TAG = 3 << 3;

/** WatchManyResponse's flags that answer a watch without events: created, progress, canceled. */
export const WatchFlag = { created: 2, progress: 5, canceled: 6 } as const;
export type WatchFlag = (typeof WatchFlag)[keyof typeof WatchFlag];

/** An event (eventToProto's object) as WatchResponse field 3; protobufjs takes data too big here. */
function eventField(w: ProtoWriter, e: Msg): void {
  const at = w.begin(3);
  w.unsigned(1, e.type);
  w.string(2, e.path);
  w.bytes(3, e.data);
  w.message(4, e.stat, statBody);
  w.unsigned(5, e.revision);
  w.end(at);
}

/** A WatchMany watch_id (uint64): a number when safe as one, else a bigint. */
export type WatchId = number | bigint;

function idSize(id: WatchId): number {
  return typeof id === 'number' ? uvarintSize(id) : uvarintSizeBig(id);
}

function putId(out: Buffer, at: number, id: WatchId): number {
  return typeof id === 'number' ? putUvarint(out, at, id) : putUvarintBig(out, at, id);
}

export class WatchEncoder {
  /**
   * Events encoded as WatchResponse field 3 (tag, length, WatchEvent bytes) during this turn of
   * the event loop: a fan-out happens in one synchronous step, so that is as long as bytes are
   * reused. (Kept with each event while it lived, through a WeakMap, they stayed in memory for
   * the whole event history: the leader at 100k watches was 100–154 MiB above the 0-watch row
   * after the scale sweep's put loads, 66 MiB without them.)
   */
  private readonly turn = new Map<TreeEvent, Buffer>();
  private clearQueued = false;
  /**
   * The event looked up last and its bytes: one write fans out to every watch on its node one
   * after the other, so most lookups are this one.
   */
  private lastEvent: TreeEvent | undefined;
  private lastBytes: Buffer | undefined;
  private readonly writer = new ProtoWriter();

  constructor(
    private readonly serializeWatch: Serialize,
    private readonly serializeWatchMany: Serialize,
  ) {}

  /** A WatchResponse with `events` at `revision`. */
  watch(revision: number, events: readonly TreeEvent[]): Buffer {
    const parts: Buffer[] = [this.serializeWatch({ revision })];
    for (const e of events) parts.push(this.event(e));
    return Buffer.concat(parts);
  }

  /**
   * A watch's id as responses encode it, parsed once per watch from its decimal uint64: a number
   * when it is safe as one, the common case. (Not its bytes: a small Buffer per watch costs a few
   * hundred bytes outside the heap, tens of MiB at 100k watches.)
   */
  watchId(watchId: string): WatchId {
    const v = BigInt(watchId);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  /** A WatchManyResponse for the watch `id` (from watchId()) with `events` at `revision`. */
  watchMany(id: WatchId, revision: number, events: readonly TreeEvent[]): Buffer {
    const out = Buffer.allocUnsafe(this.size(id, revision, events));
    this.write(out, 0, id, revision, events);
    return out;
  }

  /** The same response as `watchMany`, appended to `batch`. */
  pack(batch: WatchManyBatch, id: WatchId, revision: number, events: readonly TreeEvent[]): void {
    const len = this.size(id, revision, events);
    const at = batch.reserve(len, events.length);
    this.write(batch.buffer, at, id, revision, events);
  }

  /**
   * A WatchManyResponse with only `flag` set besides watch_id and (unless 0) revision: `created`,
   * `progress` (every idle watch gets one now and then: 100k of them took 53–106 ms of CPU
   * through protobufjs, 2–16 ms here) or a plain `canceled`.
   */
  flag(id: WatchId, flag: WatchFlag, revision: number): Buffer {
    const out = Buffer.allocUnsafe(flagSize(id, revision));
    writeFlag(out, 0, id, flag, revision);
    return out;
  }

  /** The same response as `flag`, appended to `batch`. */
  packFlag(batch: WatchManyBatch, id: WatchId, flag: WatchFlag, revision: number): void {
    const len = flagSize(id, revision);
    const at = batch.reserve(len, 1);
    writeFlag(batch.buffer, at, id, flag, revision);
  }

  /** Any other WatchManyResponse (an error), appended to `batch`. */
  packMessage(batch: WatchManyBatch, res: Msg): void {
    const b = this.serializeWatchMany(res);
    const at = batch.reserve(b.length, 1); // first: it may move the buffer
    b.copy(batch.buffer, at);
  }

  /**
   * The response's length. Its events' bytes are looked up again by write(): a second lookup is
   * cheaper than keeping them in an array per response (most responses carry one event, found in
   * the one-entry cache).
   */
  private size(id: WatchId, revision: number, events: readonly TreeEvent[]): number {
    let size = 1 + idSize(id) + 1 + uvarintSize(revision);
    for (const e of events) size += this.event(e).length;
    return size;
  }

  private write(out: Buffer, at: number, id: WatchId, revision: number, events: readonly TreeEvent[]): void {
    out[at++] = WATCH_ID_TAG;
    at = putId(out, at, id);
    out[at++] = REVISION_TAG;
    at = putUvarint(out, at, revision);
    for (const e of events) {
      const b = this.event(e);
      // The cached field under WatchManyResponse's tag: both tags fit one byte and the length
      // that follows is the same, so only the first byte differs.
      out.set(b, at);
      out[at] = WATCH_MANY_EVENTS_TAG;
      at += b.length;
    }
  }

  private event(e: TreeEvent): Buffer {
    if (e === this.lastEvent) return this.lastBytes as Buffer;
    let b = this.turn.get(e);
    if (b === undefined) {
      // Once per event, not per watch: the object costs little next to the fan-out.
      const m = eventToProto(e);
      b = this.writer.encode(m, eventField) ?? this.serializeWatch({ events: [m] });
      if (b[0] !== WATCH_EVENTS_TAG) throw new Error('unexpected WatchResponse encoding of an event');
      this.turn.set(e, b);
      if (!this.clearQueued) {
        this.clearQueued = true;
        queueMicrotask(() => this.endTurn());
      }
    }
    this.lastEvent = e;
    this.lastBytes = b;
    return b;
  }

  private endTurn(): void {
    this.clearQueued = false;
    this.turn.clear();
    this.lastEvent = undefined;
    this.lastBytes = undefined;
  }
}

function flagSize(id: WatchId, revision: number): number {
  return 1 + idSize(id) + 2 + (revision === 0 ? 0 : 1 + uvarintSize(revision));
}

function writeFlag(out: Buffer, at: number, id: WatchId, flag: WatchFlag, revision: number): void {
  out[at++] = WATCH_ID_TAG;
  at = putId(out, at, id);
  out[at++] = flag << 3;
  out[at++] = 1;
  if (revision === 0) return;
  out[at++] = REVISION_TAG;
  putUvarint(out, at, revision);
}

/**
 * WatchManyResponses packed as the `batch` entries of one message, written straight into one
 * buffer, so a write that fans out to many watches of one stream costs one gRPC message and no
 * per-watch allocation.
 */
export class WatchManyBatch {
  private buf = Buffer.alloc(0);
  /**
   * `limit`: an entry that would take a non-empty batch past it first sends the batch (`send`);
   * a message is then at most `limit` bytes or a single entry.
   */
  constructor(
    private readonly limit: number,
    private readonly send: (message: Buffer, weight: number) => void,
  ) {}

  /** Bytes of the message taken next. */
  bytes = 0;
  /** What the caller counts per entry (events), summed. */
  weight = 0;
  /** Size of the last message taken: the next buffer starts big enough for one like it. */
  private lastSize = 0;

  get empty(): boolean {
    return this.bytes === 0;
  }

  /** Where reserve() asked the caller to write. */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Opens an entry of `len` bytes; returns where in `buffer` its bytes go. */
  reserve(len: number, weight: number): number {
    const entry = 1 + uvarintSize(len) + len;
    if (this.bytes > 0 && this.bytes + entry > this.limit) this.flush();
    const need = this.bytes + entry;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(
        Math.max(need, 2 * this.buf.length, this.bytes === 0 ? this.lastSize : 0, 1024),
      );
      this.buf.copy(next, 0, 0, this.bytes);
      this.buf = next;
    }
    this.buf[this.bytes] = WATCH_MANY_BATCH_TAG;
    const at = putUvarint(this.buf, this.bytes + 1, len);
    this.bytes = at + len;
    this.weight += weight;
    return at;
  }

  /** Sends what is packed, if anything; the batch is empty afterwards. */
  flush(): void {
    if (this.bytes === 0) return;
    // Not reused: grpc-js may hold the message until the stream is writable again. A buffer much
    // bigger than its message is not handed over either: a queued message would pin all of it.
    const out =
      2 * this.bytes < this.buf.length
        ? Buffer.from(this.buf.subarray(0, this.bytes))
        : this.buf.subarray(0, this.bytes);
    const weight = this.weight;
    this.lastSize = Math.min(this.bytes, this.limit);
    this.buf = Buffer.alloc(0);
    this.bytes = 0;
    this.weight = 0;
    this.send(out, weight);
  }
}

/**
 * Makes the service's `methods` accept already-encoded responses (Buffers) and returns their
 * original serializers, by method name.
 */
export function preEncodedResponses(
  def: grpc.ServiceDefinition,
  methods: readonly string[],
): Record<string, Serialize> {
  const originals: Record<string, Serialize> = {};
  for (const name of methods) {
    const m = def[name];
    if (m === undefined) throw new Error(`service has no method ${name}`);
    const orig = m.responseSerialize as Serialize;
    originals[name] = orig;
    (def as Record<string, grpc.MethodDefinition<unknown, unknown>>)[name] = {
      ...m,
      responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : orig(v)),
    };
  }
  return originals;
}
