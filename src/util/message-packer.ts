/**
 * One end of a session stream on its way out (the client's requests, the member's answers).
 * Packable messages are collected and written as one `{ batch }` message at the end of the
 * microtask queue: what is produced in one turn (the next requests of callers whose answers
 * arrived together, the answers of one apply batch) leaves together, and on both ends gRPC's cost
 * is mostly per message. A message that may not be packed first flushes those, so messages leave
 * in the order they were given. A pack is cut before its size estimate (approxWireSize, an
 * overestimate) passes `maxBytes` or it holds `maxCount` messages; a bigger message goes alone.
 */
import { approxWireSize } from './proto-writer.js';

type Msg = Record<string, unknown>;

/**
 * Most bytes one packed message carries. Either end may be configured to accept messages as
 * small as 64 KiB (--max-message-bytes).
 */
export const PACK_BYTES = 32 * 1024;

export class MessagePacker {
  private packed: Msg[] = [];
  private bytes = 0;

  /** `write` sends one message: a single one, or `{ batch }`. */
  constructor(
    private readonly write: (message: Msg) => void,
    private readonly maxCount = Number.POSITIVE_INFINITY,
    private readonly maxBytes = PACK_BYTES,
  ) {}

  /** `packable`: the other end takes this message packed. */
  add(message: Msg, packable: boolean): void {
    const size = packable ? approxWireSize(message) : this.maxBytes;
    if (size >= this.maxBytes) {
      this.flush();
      this.write(message);
      return;
    }
    if (this.bytes + size > this.maxBytes || this.packed.length >= this.maxCount) this.flush();
    if (this.packed.length === 0) queueMicrotask(() => this.flush());
    this.packed.push(message);
    this.bytes += size;
  }

  flush(): void {
    const out = this.packed;
    if (out.length === 0) return;
    this.packed = [];
    this.bytes = 0;
    this.write(out.length === 1 ? (out[0] as Msg) : { batch: out });
  }
}
