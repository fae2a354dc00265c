/**
 * A protobuf wire-format reader for the hand-written decoders of hot messages (the client's
 * responses and watch events, the member's session-stream requests). 64-bit varints below 2^53
 * go straight to numbers or decimal strings, never through Long. Anything malformed throws.
 */
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
      if (this.pos >= this.end) throw new Error('truncated varint');
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
    throw new Error('varint longer than 10 bytes');
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

  /** uint64 as a number when below 2^53, else as a decimal string (exact either way). */
  uint64Value(): number | string {
    this.varint();
    if (this.hi < 0x200000) return this.hi * TWO_32 + this.lo;
    return ((BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }

  /** int64 as a number when it is a safe integer, else as a decimal string. */
  int64Value(): number | string {
    this.varint();
    if (this.hi < 0x200000) return this.hi * TWO_32 + this.lo;
    // Negative: two's complement; above -2^53 it is exact as a double.
    if (this.hi >= 0xffe00000 && (this.hi !== 0xffe00000 || this.lo !== 0))
      return (this.hi - TWO_32) * TWO_32 + this.lo;
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo)).toString();
  }

  /**
   * A string field whose bytes are all ASCII; undefined (position unchanged) otherwise, so a
   * caller that must decode other text exactly as another decoder does can hand it over.
   */
  asciiString(): string | undefined {
    const start = this.pos;
    const end = this.delimited();
    for (let i = this.pos; i < end; i++) {
      if ((this.buf[i] as number) > 0x7f) {
        this.pos = start;
        return undefined;
      }
    }
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end;
    return s;
  }

  /** A bytes field as a view into the message's buffer (what protobufjs returns for a Buffer). */
  bytesView(): Buffer {
    const end = this.delimited();
    const b = this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
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
    const b = Buffer.allocUnsafe(end - this.pos);
    this.buf.copy(b, 0, this.pos, end);
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
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('truncated field');
  }
}
