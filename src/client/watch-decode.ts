/**
 * Watch responses decoded by hand into the objects @grpc/proto-loader builds with LOADER_OPTIONS,
 * except that Stat's 64-bit fields and watch revisions below 2^53 are numbers (WireNumber). A
 * watch consumer decodes far more messages than it sends; through protobufjs every event cost a
 * generic decode plus a `toObject` pass whose 64-bit fields (eight per Stat) each went through
 * Long and its `toString`, most of the consumer's CPU in the scale sweep's profile; decimal
 * strings made directly were still a third of an event's decode (1.07 → 0.57 µs per event in
 * packs of 15 with numbers, a shared empty `data` and one copy per `data`).
 *
 * Unknown fields are skipped (a newer member may send more; proto2 groups, which proto3 cannot
 * declare, are refused); anything malformed throws, which grpc-js reports as a failed call.
 */
import type { status as Status } from '@grpc/grpc-js';
import type { WireEventType, WireNumber, WireStat, WireWatchEvent, WireWatchResponse } from './wire.js';
import { Reader } from '../util/proto-reader.js';

/** WatchManyResponse as proto-loader builds it (watch-line.ts routes it). */
export interface WireWatchManyResponse {
  watchId: string;
  created: boolean;
  revision: WireNumber;
  events: WireWatchEvent[];
  progress: boolean;
  canceled: boolean;
  error: { code: Status; message: string; failedOp: number } | null;
  compactRevision: string;
  /** Responses packed into this one (every watch here asks for it); then nothing else is set. */
  batch: WireWatchManyResponse[];
}

/** An absent `data`: one shared empty Buffer (nothing can be written into it). */
const EMPTY = Buffer.alloc(0);

const EVENT_TYPES: readonly WireEventType[] = ['EVENT_TYPE_UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED'];
/**
 * Stat's 64-bit fields come as numbers below 2^53 (decimal strings above, as proto-loader gives
 * them): turning each into a string only for the caller to parse it back was a third of a watch
 * event's decode.
 */
export function stat(r: Reader): WireStat {
  const s: WireStat = {
    createdRevision: 0,
    modifiedRevision: 0,
    childrenRevision: 0,
    version: 0,
    childrenVersion: 0,
    createdMs: 0,
    modifiedMs: 0,
    ephemeralOwner: 0,
    dataLength: 0,
    numChildren: 0,
    aclVersion: 0,
  };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0:
        s.createdRevision = r.uint64Value();
        break;
      case (2 << 3) | 0:
        s.modifiedRevision = r.uint64Value();
        break;
      case (3 << 3) | 0:
        s.childrenRevision = r.uint64Value();
        break;
      case (4 << 3) | 0:
        s.version = r.int64Value();
        break;
      case (5 << 3) | 0:
        s.childrenVersion = r.int64Value();
        break;
      case (6 << 3) | 0:
        s.createdMs = r.int64Value();
        break;
      case (7 << 3) | 0:
        s.modifiedMs = r.int64Value();
        break;
      case (8 << 3) | 0:
        s.ephemeralOwner = r.uint64Value();
        break;
      case (9 << 3) | 0:
        s.dataLength = r.uint32();
        break;
      case (10 << 3) | 0:
        s.numChildren = r.uint32();
        break;
      case (11 << 3) | 0:
        s.aclVersion = r.int64Value();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return s;
}

function event(r: Reader): WireWatchEvent {
  const e: WireWatchEvent = {
    type: 'EVENT_TYPE_UNSPECIFIED',
    path: '',
    data: EMPTY,
    stat: null,
    revision: 0,
  };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0: {
        const n = r.int32();
        // proto-loader keeps a number it has no name for.
        e.type = EVENT_TYPES[n] ?? (n as unknown as WireEventType);
        break;
      }
      case (2 << 3) | 2:
        e.path = r.string();
        break;
      case (3 << 3) | 2:
        e.data = r.bytes();
        break;
      case (4 << 3) | 2:
        e.stat = stat(r.sub());
        break;
      case (5 << 3) | 0:
        e.revision = r.uint64Value();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return e;
}

export function errorStatus(r: Reader): NonNullable<WireWatchManyResponse['error']> {
  const e: NonNullable<WireWatchManyResponse['error']> = { code: 0, message: '', failedOp: 0 };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0:
        e.code = r.int32();
        break;
      case (2 << 3) | 2:
        e.message = r.string();
        break;
      case (3 << 3) | 0:
        e.failedOp = r.int32();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return e;
}

function watchMany(r: Reader): WireWatchManyResponse {
  const m: WireWatchManyResponse = {
    watchId: '0',
    created: false,
    revision: 0,
    events: [],
    progress: false,
    canceled: false,
    error: null,
    compactRevision: '0',
    batch: [],
  };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0:
        m.watchId = r.uint64();
        break;
      case (2 << 3) | 0:
        m.created = r.bool();
        break;
      case (3 << 3) | 0:
        m.revision = r.uint64Value();
        break;
      case (4 << 3) | 2:
        m.events.push(event(r.sub()));
        break;
      case (5 << 3) | 0:
        m.progress = r.bool();
        break;
      case (6 << 3) | 0:
        m.canceled = r.bool();
        break;
      case (7 << 3) | 2:
        m.error = errorStatus(r.sub());
        break;
      case (8 << 3) | 0:
        m.compactRevision = r.uint64();
        break;
      case (9 << 3) | 2:
        m.batch.push(watchMany(r.sub()));
        break;
      default:
        r.skip(t & 7);
    }
  }
  return m;
}

function watch(r: Reader): WireWatchResponse {
  const m: WireWatchResponse = {
    created: false,
    revision: 0,
    events: [],
    progress: false,
    compactRevision: '0',
  };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0:
        m.created = r.bool();
        break;
      case (2 << 3) | 0:
        m.revision = r.uint64Value();
        break;
      case (3 << 3) | 2:
        m.events.push(event(r.sub()));
        break;
      case (4 << 3) | 0:
        m.progress = r.bool();
        break;
      case (5 << 3) | 0:
        m.compactRevision = r.uint64();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return m;
}

/** The responses a WatchManyResponse stands for: its packed ones, or itself. */
export function unpacked(res: WireWatchManyResponse): readonly WireWatchManyResponse[] {
  return res.batch.length > 0 ? res.batch : [res];
}

export function decodeWatchManyResponse(buf: Buffer): WireWatchManyResponse {
  return watchMany(new Reader(buf, 0, buf.length));
}

export function decodeWatchResponse(buf: Buffer): WireWatchResponse {
  return watch(new Reader(buf, 0, buf.length));
}
