/**
 * One end of a session stream: packable messages leave together at the end of the microtask
 * queue, others at once and never ahead of messages given before them, packs cut below
 * PACK_BYTES and at the count limit.
 */
import { describe, expect, it } from 'vitest';
import { MessagePacker, PACK_BYTES } from '../../src/util/message-packer.js';
import { approxWireSize } from '../../src/util/proto-writer.js';

type Msg = Record<string, unknown>;

function packer(maxCount?: number): { p: MessagePacker; out: Msg[] } {
  const out: Msg[] = [];
  return { p: new MessagePacker((m) => out.push(m), maxCount), out };
}

const ids = (m: Msg): unknown[] => ((m.batch as Msg[] | undefined) ?? [m]).map((a) => a.id);

describe('MessagePacker', () => {
  it('writes a lone answer at once, alone', () => {
    const { p, out } = packer();
    p.add({ id: 1, set: {} }, false);
    p.add({ id: 2, set: {} }, false);
    expect(out).toEqual([
      { id: 1, set: {} },
      { id: 2, set: {} },
    ]);
  });

  it('packs the packable answers of one turn into one message after the microtasks', async () => {
    const { p, out } = packer();
    for (let i = 1; i <= 5; i++) p.add({ id: i, set: {} }, true);
    expect(out).toEqual([]);
    await Promise.resolve();
    expect(out.map(ids)).toEqual([[1, 2, 3, 4, 5]]);
    // One packable answer alone leaves as a plain message.
    p.add({ id: 6, set: {} }, true);
    await Promise.resolve();
    expect(out[1]).toEqual({ id: 6, set: {} });
  });

  it('never lets a lone answer overtake packed ones given before it', async () => {
    const { p, out } = packer();
    p.add({ id: 1, get: {} }, true);
    p.add({ id: 2, get: {} }, true);
    p.add({ id: 3, get: {} }, false);
    p.add({ id: 4, get: {} }, true);
    await Promise.resolve();
    expect(out.map(ids)).toEqual([[1, 2], [3], [4]]);
  });

  it('cuts packs below PACK_BYTES and sends a bigger answer alone', async () => {
    const { p, out } = packer();
    const data = Buffer.alloc(5000);
    for (let i = 1; i <= 20; i++) p.add({ id: i, get: { data } }, true);
    p.add({ id: 99, get: { data: Buffer.alloc(PACK_BYTES) } }, true);
    await Promise.resolve();
    expect(out.flatMap(ids)).toEqual([...Array.from({ length: 20 }, (_, i) => i + 1), 99]);
    expect(out.length).toBeGreaterThan(3);
    for (const m of out) if (m.batch !== undefined) expect(approxWireSize(m)).toBeLessThan(PACK_BYTES + 64);
    expect(out.at(-1)).toMatchObject({ id: 99 });
  });

  it('cuts packs at the count limit', async () => {
    const { p, out } = packer(3);
    for (let i = 1; i <= 7; i++) p.add({ id: i, get: {} }, true);
    await Promise.resolve();
    expect(out.map(ids)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });
});
