import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerError } from '../../src/transport/index.js';
import { nodeId, type NodeId } from '../../src/util/brand.js';
import { chunksOf, dec, enc, startMember, waitFor, wire, type Member } from './harness.js';

const started: Member[] = [];
async function pair(): Promise<[Member, Member]> {
  const a = await startMember(1);
  const b = await startMember(2);
  started.push(a, b);
  wire(a, b);
  return [a, b];
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.transport.stop()));
});

describe('snapshot streams', () => {
  it('delivers the header and every chunk in order', async () => {
    const [a, b] = await pair();
    const got: { from?: NodeId; header?: string; chunks: string[] } = { chunks: [] };
    b.recorder.snapshot = async (from, header, chunks) => {
      got.from = from;
      got.header = dec(header);
      for await (const c of chunks) got.chunks.push(dec(c));
    };
    const parts = Array.from({ length: 200 }, (_, i) => `chunk-${i}-${'d'.repeat(i * 50)}`);
    await a.transport.sendSnapshot(b.id, enc('meta'), chunksOf(parts));
    expect(got).toEqual({ from: a.id, header: 'meta', chunks: parts });
  });

  it('streams large chunks with backpressure to a slow installer', async () => {
    const [a, b] = await pair();
    let bytes = 0;
    b.recorder.snapshot = async (_from, _header, chunks) => {
      for await (const c of chunks) {
        bytes += c.byteLength;
        await new Promise((r) => setImmediate(r));
      }
    };
    const chunk = new Uint8Array(1024 * 1024).fill(7);
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 32; i++) {
        await Promise.resolve();
        yield chunk;
      }
    }
    await a.transport.sendSnapshot(b.id, enc('h'), source());
    expect(bytes).toBe(32 * chunk.byteLength);
  });

  it('acknowledges only after the handler resolves', async () => {
    const [a, b] = await pair();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let consumed = 0;
    b.recorder.snapshot = async (_from, _header, chunks) => {
      for await (const _ of chunks) consumed++;
      await gate;
    };
    let acked = false;
    const sending = a.transport.sendSnapshot(b.id, enc('h'), chunksOf(['1', '2', '3'])).then(() => {
      acked = true;
    });
    await waitFor(() => consumed === 3, 'all chunks consumed');
    // A negative check needs a window: give the ack every chance to (wrongly) arrive before the
    // handler finishes. This can only let a bug through, never fail a correct transport.
    await new Promise((r) => setTimeout(r, 50));
    expect(acked).toBe(false);
    release();
    await sending;
    expect(acked).toBe(true);
  });

  it.each([
    [
      'a PeerError keeps its code and message',
      new PeerError(status.RESOURCE_EXHAUSTED, 'disk full'),
      status.RESOURCE_EXHAUSTED,
      'disk full',
    ],
    ['any other error becomes INTERNAL', new Error('bad header'), status.INTERNAL, 'bad header'],
  ])('a failing handler surfaces to sendSnapshot: %s', async (_name, thrown, code, message) => {
    const [a, b] = await pair();
    b.recorder.snapshot = async (_from, _header, chunks) => {
      for await (const _ of chunks) throw thrown;
    };
    const e = await a.transport.sendSnapshot(b.id, enc('h'), chunksOf(['1', '2'])).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeerError);
    expect(e).toMatchObject({ code, message });
  });

  it('an early rejection stops reading the source', async () => {
    const [a, b] = await pair();
    b.recorder.snapshot = () => Promise.reject(new PeerError(status.FAILED_PRECONDITION, 'stale term'));
    let produced = 0;
    let finished = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) {
          produced++;
          await new Promise((r) => setTimeout(r, 1));
          yield enc('x');
        }
      } finally {
        finished = true;
      }
    }
    await expect(a.transport.sendSnapshot(b.id, enc('h'), endless())).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      message: 'stale term',
    });
    await waitFor(() => finished, 'source closed');
    expect(produced).toBeGreaterThan(0);
  });

  it('a failing source rejects sendSnapshot with its error and the receiver never sees a complete stream', async () => {
    const [a, b] = await pair();
    let receiverError: unknown;
    let firstChunkSeen!: () => void;
    const seen = new Promise<void>((r) => (firstChunkSeen = r));
    b.recorder.snapshot = async (_from, _header, chunks) => {
      try {
        for await (const _ of chunks) firstChunkSeen();
      } catch (e) {
        receiverError = e;
        throw e;
      }
    };
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield enc('ok');
      await seen; // the receiver is mid-install when the source fails
      throw new Error('read failed');
    }
    await expect(a.transport.sendSnapshot(b.id, enc('h'), broken())).rejects.toThrow('read failed');
    // A cancelled call can look like a clean end to the receiver; the missing `last` marker
    // is what turns it into an error instead of a truncated snapshot.
    await waitFor(() => receiverError !== undefined, 'receiver iteration fails');
    expect(receiverError).toBeInstanceOf(Error);
  });

  it('refuses a snapshot for another member', async () => {
    const [a, b] = await pair();
    a.transport.setPeers(new Map([[nodeId(3), b.addr()]]));
    let called = false;
    b.recorder.snapshot = () => {
      called = true;
      return Promise.resolve();
    };
    await expect(a.transport.sendSnapshot(nodeId(3), enc('h'), chunksOf(['x']))).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    expect(called).toBe(false);
  });

  it('a dropped snapshot (fault point) fails with UNAVAILABLE', async () => {
    const a = await startMember(1, { faults: { drop: () => true, delayMs: () => 0 } });
    const b = await startMember(2);
    started.push(a, b);
    wire(a, b);
    await expect(a.transport.sendSnapshot(b.id, enc('h'), chunksOf([]))).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });
});
