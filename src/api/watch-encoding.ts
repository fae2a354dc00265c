/**
 * Watch responses encoded by hand from shared parts. One write fans out to every watch on its
 * node; serializing the same event (its data, its Stat) once per watch was most of the cost of
 * that fan-out. Protobuf lets a message be sent as concatenated encodings of its fields, so a
 * response is a small per-watch head (watch_id, revision) followed by each event's bytes, encoded
 * once per event and kept with it while it is alive.
 *
 * The grpc-js serializers of Watch and WatchMany are wrapped to pass such bytes through unchanged
 * (preEncodedResponses); every other response is serialized as before.
 */
import type * as grpc from '@grpc/grpc-js';
import type { TreeEvent } from '../tree/events.js';
import { eventToProto } from './convert.js';

type Serialize = (value: unknown) => Buffer;

/** Wire tags (field number << 3 | wire type 2) of the repeated event field in each response. */
const WATCH_EVENTS_TAG = (3 << 3) | 2;
const WATCH_MANY_EVENTS_TAG = (4 << 3) | 2;

export class WatchEncoder {
  /** Each event encoded as WatchResponse field 3 (tag, length, WatchEvent bytes). */
  private readonly events = new WeakMap<TreeEvent, Buffer>();

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

  /** A WatchManyResponse for `watchId` with `events` at `revision`. */
  watchMany(watchId: string, revision: number, events: readonly TreeEvent[]): Buffer {
    const parts: Buffer[] = [this.serializeWatchMany({ watch_id: watchId, revision })];
    let size = parts[0]!.length;
    for (const e of events) {
      const b = this.event(e);
      parts.push(b);
      size += b.length;
    }
    const out = Buffer.concat(parts, size);
    // The same field bytes under WatchManyResponse's tag: only the first byte of each part differs
    // (both tags fit one byte; the length that follows is the same).
    let at = parts[0]!.length;
    for (let i = 1; i < parts.length; i++) {
      out[at] = WATCH_MANY_EVENTS_TAG;
      at += parts[i]!.length;
    }
    return out;
  }

  private event(e: TreeEvent): Buffer {
    let b = this.events.get(e);
    if (b === undefined) {
      b = this.serializeWatch({ events: [eventToProto(e)] });
      if (b[0] !== WATCH_EVENTS_TAG) throw new Error('unexpected WatchResponse encoding of an event');
      this.events.set(e, b);
    }
    return b;
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
