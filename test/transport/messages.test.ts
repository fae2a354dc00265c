import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeId } from '../../src/util/brand.js';
import { CLUSTER, enc, startMember, waitFor, wire, type Member, type MemberOptions } from './harness.js';

const started: Member[] = [];
async function member(id: number, opts: MemberOptions = {}): Promise<Member> {
  const m = await startMember(id, opts);
  started.push(m);
  return m;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.transport.stop()));
});

const range = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('Raft message streams', () => {
  it('delivers a burst in order as fewer frames than messages', async () => {
    const [a, b] = [await member(1), await member(2)];
    wire(a, b);
    const sent = range(1000);
    for (const s of sent) a.transport.send(b.id, enc(s));
    await waitFor(() => b.recorder.messages().length === sent.length, 'burst delivered');
    expect(b.recorder.messages(a.id)).toEqual(sent);
    // Everything queued in one event-loop turn leaves as one frame.
    expect(b.recorder.batches.length).toBe(1);
    expect(a.transport.stats()).toMatchObject({ batchesSent: 1, messagesSent: 1000 });
  });

  it('keeps order across many turns and batches', async () => {
    const [a, b] = [await member(1), await member(2)];
    wire(a, b);
    const sent: string[] = [];
    for (let turn = 0; turn < 50; turn++) {
      for (const s of range(20, `t${turn}-`)) {
        a.transport.send(b.id, enc(s));
        sent.push(s);
      }
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => b.recorder.messages().length === sent.length, 'all turns delivered');
    expect(b.recorder.messages()).toEqual(sent);
    expect(b.recorder.batches.length).toBeLessThan(sent.length);
    expect(b.recorder.batches.length).toBeGreaterThan(1);
  });

  it('while the stream is backed up, messages from later turns accumulate into one frame', async () => {
    const [a, b] = [await member(1), await member(2)];
    wire(a, b);
    // Each message is larger than the HTTP/2 flow-control window, so writes wait for the
    // receiver's window updates and the stream's buffer fills while the sender keeps sending.
    const n = 100;
    const order: number[] = [];
    let frames = 0;
    b.recorder.onMessages = (_from, msgs) => {
      frames++;
      for (const m of msgs) order.push(new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0));
    };
    for (let i = 0; i < n; i++) {
      const m = new Uint8Array(256 * 1024);
      new DataView(m.buffer).setUint32(0, i);
      a.transport.send(b.id, m);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => order.length === n, 'all delivered');
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(frames).toBeLessThan(n);
  });

  it('splits a burst larger than one frame into several frames, in order', async () => {
    const opts = { maxMessageBytes: 64 * 1024 };
    const [a, b] = [await member(1, opts), await member(2, opts)];
    wire(a, b);
    const big = 'x'.repeat(10_000);
    const sent = range(40).map((s) => `${s}:${big}`);
    for (const s of sent) a.transport.send(b.id, enc(s));
    await waitFor(() => b.recorder.messages().length === sent.length, 'large burst delivered');
    expect(b.recorder.messages()).toEqual(sent);
    expect(b.recorder.batches.length).toBeGreaterThan(1);
  });

  it('delivers between three members in both directions', async () => {
    const ms = [await member(1), await member(2), await member(3)];
    wire(...ms);
    for (const from of ms)
      for (const to of ms) if (from !== to) from.transport.send(to.id, enc(`${from.id}->${to.id}`));
    for (const to of ms) {
      await waitFor(() => to.recorder.messages().length === 2, `member ${to.id} got 2`);
      expect(to.recorder.messages().sort()).toEqual(
        ms.filter((f) => f !== to).map((f) => `${f.id}->${to.id}`),
      );
    }
  });

  it('drops batches from another cluster and logs a warning', async () => {
    const b = await member(2);
    const stranger = await member(1, { clusterId: 'other-cluster' });
    stranger.transport.setPeers(new Map([[b.id, b.addr()]]));
    stranger.transport.send(b.id, enc('hello'));
    await waitFor(() => b.transport.stats().batchesRejected === 1, 'batch rejected');
    expect(b.recorder.batches).toEqual([]);
    expect(b.logs.some((l) => l.msg === 'dropped peer batch' && l.reason === 'wrong cluster id')).toBe(true);
    expect(CLUSTER).not.toBe('other-cluster');
  });

  it('drops batches addressed to another member', async () => {
    const [a, b] = [await member(1), await member(2)];
    // a believes member 3 lives at b's address (a stale address after a membership change).
    a.transport.setPeers(new Map([[nodeId(3), b.addr()]]));
    a.transport.send(nodeId(3), enc('for 3'));
    await waitFor(() => b.transport.stats().batchesRejected === 1, 'batch rejected');
    expect(b.recorder.batches).toEqual([]);
    expect(b.logs.some((l) => l.msg === 'dropped peer batch' && l.reason === 'wrong destination')).toBe(true);
  });

  it('rate-limits the warning for a flood of misaddressed batches', async () => {
    const b = await member(2);
    const stranger = await member(1, { clusterId: 'other-cluster' });
    stranger.transport.setPeers(new Map([[b.id, b.addr()]]));
    for (let i = 0; i < 20; i++) {
      stranger.transport.send(b.id, enc(`x${i}`));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => b.transport.stats().batchesRejected >= 2, 'several batches rejected');
    expect(b.logs.filter((l) => l.msg === 'dropped peer batch')).toHaveLength(1);
  });

  it('on queue overflow drops the newest and reports the peer unreachable once per turn', async () => {
    const [a, b] = [await member(1, { maxQueuedMessages: 10 }), await member(2)];
    wire(a, b);
    const sent = range(100);
    for (const s of sent) a.transport.send(b.id, enc(s));
    await waitFor(() => a.unreachable.length > 0, 'unreachable reported');
    await waitFor(() => b.recorder.messages().length === 10, 'queued prefix delivered');
    expect(a.unreachable).toEqual([b.id]);
    expect(b.recorder.messages()).toEqual(sent.slice(0, 10));
    expect(a.transport.stats().messagesDropped).toBe(90);
  });

  it('bounds the queue by bytes too', async () => {
    const [a, b] = [await member(1, { maxQueuedBytes: 1000 }), await member(2)];
    wire(a, b);
    const sent = range(10).map((s) => s.padEnd(300, '.'));
    for (const s of sent) a.transport.send(b.id, enc(s));
    await waitFor(() => b.recorder.messages().length === 3, 'what fits delivered');
    await waitFor(() => a.unreachable.length > 0, 'unreachable reported');
    expect(b.recorder.messages()).toEqual(sent.slice(0, 3));
  });

  it('reports a message to an unknown peer as unreachable', async () => {
    const a = await member(1);
    a.transport.send(nodeId(9), enc('nobody'));
    await waitFor(() => a.unreachable.length > 0, 'unreachable reported');
    expect(a.unreachable).toEqual([nodeId(9)]);
    expect(a.transport.stats().messagesDropped).toBe(1);
  });

  it('resumes delivery after the peer restarts, without blocking sends to others', async () => {
    const [a, b, c] = [await member(1), await member(2), await member(3)];
    wire(a, b, c);
    a.transport.send(b.id, enc('before'));
    await waitFor(() => b.recorder.messages().includes('before'), 'first message');
    const port = b.transport.port;
    await b.transport.stop();

    // While b is down: sends return at once, b is reported unreachable, c still hears from a.
    let i = 0;
    await waitFor(() => {
      a.transport.send(b.id, enc(`lost${i++}`));
      a.transport.send(c.id, enc(`to-c${i}`));
      return a.unreachable.includes(b.id);
    }, 'b reported unreachable');
    await waitFor(() => c.recorder.messages().length >= i - 1, 'c keeps receiving while b is down');

    const b2 = await member(2, { listenAddr: `127.0.0.1:${port}` });
    let n = 0;
    await waitFor(() => {
      a.transport.send(b.id, enc(`after${n++}`));
      return b2.recorder.messages().some((m) => m.startsWith('after'));
    }, 'delivery to the restarted peer');
    const got = b2.recorder.messages().filter((m) => m.startsWith('after'));
    // Whatever arrives after the reconnect arrives in send order.
    expect(got).toEqual([...got].sort((x, y) => Number(x.slice(5)) - Number(y.slice(5))));
    expect(a.transport.stats().streamsOpened).toBeGreaterThan(2);
    expect(a.logs.some((l) => l.msg === 'peer stream failed' && l.peer === 2)).toBe(true);
    await waitFor(
      () => a.logs.some((l) => l.msg === 'peer stream reconnected' && l.peer === 2),
      'reconnect logged',
    );
  });

  it('applies the send-side fault points: drop loses silently, delay delivers later', async () => {
    let dropping = true;
    const a = await member(1, {
      faults: { drop: () => dropping, delayMs: () => (dropping ? 0 : 30) },
    });
    const b = await member(2);
    wire(a, b);
    a.transport.send(b.id, enc('dropped'));
    dropping = false;
    a.transport.send(b.id, enc('delayed1'));
    a.transport.send(b.id, enc('delayed2'));
    await waitFor(() => b.recorder.messages().length === 2, 'delayed messages');
    expect(b.recorder.messages()).toEqual(['delayed1', 'delayed2']);
    expect(a.unreachable).toEqual([]);
  });

  it('setPeers: a removed member is unreachable, a re-added one is reached at its new address', async () => {
    const [a, b] = [await member(1), await member(2)];
    wire(a, b);
    a.transport.send(b.id, enc('one'));
    await waitFor(() => b.recorder.messages().length === 1, 'first');
    a.transport.setPeers(new Map());
    a.transport.send(b.id, enc('nowhere'));
    await waitFor(() => a.unreachable.includes(b.id), 'unreachable after removal');
    const b2 = await member(2);
    a.transport.setPeers(new Map([[b2.id, b2.addr()]]));
    a.transport.send(b2.id, enc('two'));
    await waitFor(() => b2.recorder.messages().length === 1, 'delivered at new address');
    expect(b2.recorder.messages()).toEqual(['two']);
    expect(b.recorder.messages()).toEqual(['one']);
  });

  it('a throwing onMessages handler does not break the stream', async () => {
    const [a, b] = [await member(1), await member(2)];
    wire(a, b);
    let calls = 0;
    const record = b.recorder.onMessages.bind(b.recorder);
    b.recorder.onMessages = (from, msgs) => {
      if (calls++ === 0) throw new Error('boom');
      record(from, msgs);
    };
    a.transport.send(b.id, enc('first'));
    await waitFor(() => calls === 1, 'first batch handled');
    a.transport.send(b.id, enc('second'));
    await waitFor(() => b.recorder.messages().length === 1, 'second batch');
    expect(b.recorder.messages()).toEqual(['second']);
  });

  it('gives up on a peer that accepts TCP but never answers, and keeps retrying', async () => {
    // A black hole: the TCP handshake succeeds, nothing else ever happens.
    const sockets = new Set<Socket>();
    const hole = createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const { port } = hole.address() as { port: number };
    try {
      const a = await member(1, { connectTimeoutMs: 100 });
      a.transport.setPeers(new Map([[nodeId(2), `127.0.0.1:${port}`]]));
      await waitFor(() => {
        a.transport.send(nodeId(2), enc('hello?'));
        return a.unreachable.includes(nodeId(2)) && a.transport.stats().streamsOpened >= 2;
      }, 'unreachable reported and stream retried');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hole.close(r));
    }
  });
});
