import { describe, expect, it } from 'vitest';
import { chunksOf, enc, startMember, waitFor, wire } from './harness.js';

/** Resources keeping the process alive, by type (unref'd timers are not listed). */
function liveHandles(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}
/** Resources alive now that were not alive at `before` (the test runner's own may come and go). */
function leakedSince(before: Map<string, number>): string[] {
  return [...liveHandles()].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type]) => type);
}

describe('lifecycle', () => {
  it('stop() leaves no open handles after messages, snapshots, forwards and a dead peer', async () => {
    const before = liveHandles();
    const ms = [await startMember(1), await startMember(2), await startMember(3)];
    const [a, b, c] = ms as [(typeof ms)[0], (typeof ms)[0], (typeof ms)[0]];
    wire(a, b, c);
    b.recorder.snapshot = async (_f, _h, chunks) => {
      for await (const _ of chunks);
    };
    a.transport.send(b.id, enc('x'));
    c.transport.send(a.id, enc('y'));
    await a.transport.sendSnapshot(b.id, enc('h'), chunksOf(['1', '2']));
    await a.transport.forward(c.id, 'k', enc('z'), 1_000);
    await waitFor(() => b.recorder.messages().length === 1 && a.recorder.messages().length === 1, 'delivery');

    // A forward and a snapshot still in flight when the member stops: both reject, nothing leaks.
    c.recorder.forwardImpl = () => new Promise<Uint8Array>(() => undefined);
    const pendingForward = a.transport.forward(c.id, 'k', enc('never'), 60_000).catch((e: unknown) => e);
    c.recorder.snapshot = () => new Promise<void>(() => undefined);
    const pendingSnapshot = a.transport
      .sendSnapshot(c.id, enc('h'), chunksOf(['1']))
      .catch((e: unknown) => e);
    // And a peer that went away while others still send to it.
    await b.transport.stop();
    a.transport.send(b.id, enc('into the void'));
    await waitFor(() => a.unreachable.includes(b.id), 'b unreachable');

    await Promise.all(ms.map((m) => m.transport.stop()));
    expect(await pendingForward).toMatchObject({ code: 1 /* CANCELLED */ });
    expect(await pendingSnapshot).toMatchObject({ code: 1 /* CANCELLED */ });
    // No polling: once stop() has resolved, the event loop holds nothing of ours.
    expect(leakedSince(before)).toEqual([]);
  });

  it('stop() is idempotent and send() after stop() is a silent no-op', async () => {
    const a = await startMember(1);
    await a.transport.stop();
    await a.transport.stop();
    a.transport.send(a.id, enc('x'));
    await expect(a.transport.forward(a.id, 'k', enc('x'), 100)).rejects.toMatchObject({ code: 1 });
    expect(a.unreachable).toEqual([]);
  });
});
