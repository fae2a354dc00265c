/**
 * The answers of one session stream on their way out. Answers to requests that came packed
 * (ClientRequest.batch) are collected and written as one ClientResponse.batch at the end of the
 * microtask queue: the answers of one apply batch resolve together, so they leave together. An
 * answer to a request sent alone first flushes those, so answers leave in the order they were
 * given. A pack is cut before its size estimate passes PACK_BYTES; a bigger answer goes alone.
 */
import { approxWireSize } from '../util/proto-writer.js';

type Msg = Record<string, unknown>;

/**
 * Most bytes of answers one packed message carries (approxWireSize: an overestimate). A client
 * may accept messages as small as 64 KiB.
 */
export const PACK_BYTES = 32 * 1024;

export class AnswerPacker {
  private packed: Msg[] = [];
  private bytes = 0;

  /** `write` sends one ClientResponse (a single answer, or `{ batch }`). */
  constructor(private readonly write: (message: Msg) => void) {}

  /** `packable`: the request came in a ClientRequest.batch. */
  add(answer: Msg, packable: boolean): void {
    const size = packable ? approxWireSize(answer) : PACK_BYTES;
    if (size >= PACK_BYTES) {
      this.flush();
      this.write(answer);
      return;
    }
    if (this.bytes + size > PACK_BYTES) this.flush();
    if (this.packed.length === 0) queueMicrotask(() => this.flush());
    this.packed.push(answer);
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
