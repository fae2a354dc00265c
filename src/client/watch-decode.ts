/**
 * Watch responses decoded by hand into the same objects @grpc/proto-loader builds with
 * LOADER_OPTIONS. A watch consumer decodes far more messages than it sends; through protobufjs
 * every event cost a generic decode plus a `toObject` pass whose 64-bit fields (eight per Stat)
 * each went through Long and its `toString`, most of the consumer's CPU in the scale sweep's
 * profile. Here a varint below 2^53 becomes its decimal string directly.
 *
 * Unknown fields are skipped (a newer member may send more; proto2 groups, which proto3 cannot
 * declare, are refused); anything malformed throws, which grpc-js reports as a failed call.
 */
import type { status as Status } from '@grpc/grpc-js';
import type { WireEventType, WireStat, WireWatchEvent, WireWatchResponse } from './wire.js';

/** WatchManyResponse as proto-loader builds it (watch-line.ts routes it). */
export interface WireWatchManyResponse {
  watchId: string;
  created: boolean;
  revision: string;
  events: WireWatchEvent[];
  progress: boolean;
  canceled: boolean;
  error: { code: Status; message: string; failedOp: number } | null;
  compactRevision: string;
  /** Responses packed into this one (every watch here asks for it); then nothing else is set. */
  batch: WireWatchManyResponse[];
}

const EVENT_TYPES: readonly WireEventType[] = ['EVENT_TYPE_UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED'];
const TWO_32 = 4294967296;

export class Reader {
  /** The last varint read, as two 32-bit halves (protobuf varints carry up to 64 bits). */
  private lo = 0;
  private hi = 0;

  constructor(
    private readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get more(): boolean {
    return this.pos < this.end;
  }

  private varint(): void {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint in a watch response');
      const b = this.buf[this.pos++] as number;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      shift += 7;
      if ((b & 0x80) === 0) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new Error('varint longer than 10 bytes in a watch response');
  }

  tag(): number {
    this.varint();
    return this.lo;
  }

  bool(): boolean {
    this.varint();
    return this.lo !== 0 || this.hi !== 0;
  }

  uint32(): number {
    this.varint();
    return this.lo;
  }

  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  /** uint64 as a decimal string. */
  uint64(): string {
    this.varint();
    if (this.hi < 0x200000) return String(this.hi * TWO_32 + this.lo);
    return ((BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }

  /** int64 as a decimal string (negative values are ten-byte two's complement varints). */
  int64(): string {
    this.varint();
    if (this.hi < 0x200000) return String(this.hi * TWO_32 + this.lo);
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }

  /** The end of a length-delimited field starting here. */
  delimited(): number {
    this.varint();
    const end = this.pos + this.lo;
    if (this.hi !== 0 || end > this.end) throw new Error('length-delimited field runs past its message');
    return end;
  }

  string(): string {
    const end = this.delimited();
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  bytes(): Buffer {
    const end = this.delimited();
    // A copy: a consumer keeping one value must not pin a whole batch of responses.
    const b = Buffer.from(this.buf.subarray(this.pos, end));
    this.pos = end;
    return b;
  }

  /** A nested message: a reader over its bytes; this one moves past them. */
  sub(): Reader {
    const end = this.delimited();
    const r = new Reader(this.buf, this.pos, end);
    this.pos = end;
    return r;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.delimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType} in a watch response`);
    }
    if (this.pos > this.end) throw new Error('truncated field in a watch response');
  }
}

export function stat(r: Reader): WireStat {
  const s: WireStat = {
    createdRevision: '0',
    modifiedRevision: '0',
    childrenRevision: '0',
    version: '0',
    childrenVersion: '0',
    createdMs: '0',
    modifiedMs: '0',
    ephemeralOwner: '0',
    dataLength: 0,
    numChildren: 0,
    aclVersion: '0',
  };
  while (r.more) {
    const t = r.tag();
    switch (t) {
      case (1 << 3) | 0:
        s.createdRevision = r.uint64();
        break;
      case (2 << 3) | 0:
        s.modifiedRevision = r.uint64();
        break;
      case (3 << 3) | 0:
        s.childrenRevision = r.uint64();
        break;
      case (4 << 3) | 0:
        s.version = r.int64();
        break;
      case (5 << 3) | 0:
        s.childrenVersion = r.int64();
        break;
      case (6 << 3) | 0:
        s.createdMs = r.int64();
        break;
      case (7 << 3) | 0:
        s.modifiedMs = r.int64();
        break;
      case (8 << 3) | 0:
        s.ephemeralOwner = r.uint64();
        break;
      case (9 << 3) | 0:
        s.dataLength = r.uint32();
        break;
      case (10 << 3) | 0:
        s.numChildren = r.uint32();
        break;
      case (11 << 3) | 0:
        s.aclVersion = r.int64();
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
    data: Buffer.alloc(0),
    stat: null,
    revision: '0',
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
        e.revision = r.uint64();
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
    revision: '0',
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
        m.revision = r.uint64();
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
    revision: '0',
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
        m.revision = r.uint64();
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
