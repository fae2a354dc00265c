/**
 * Peer transport micro-benchmark: two transports on loopback, one process.
 *
 *   node dist/bench/transport-bench.js [secondsPerCase=3]
 *
 * Messages: a closed loop keeps at most `window` messages in flight (sent, not yet delivered)
 * so the bounded per-peer queue never overflows; each event-loop turn queues up to `burst`
 * messages. Reports delivered messages/s, frames (batches)/s, mean messages per frame and MB/s.
 * Forwards: sequential round trips (latency) and 64 concurrent callers (throughput), as unary
 * calls and pipelined over one ForwardStream.
 */
import { pino } from 'pino';
import { PeerTransport, type PeerHandler } from '../transport/index.js';
import { nodeId, type NodeId } from '../util/brand.js';
import { print } from './print.js';

interface Counters {
  messages: number;
  batches: number;
  bytes: number;
}

const seconds = Number(process.argv[2] ?? '3');
const logger = pino({ level: 'warn' });

function handler(c: Counters): PeerHandler {
  return {
    onMessages(_from: NodeId, messages: Uint8Array[]): void {
      c.batches++;
      c.messages += messages.length;
      for (const m of messages) c.bytes += m.byteLength;
    },
    onSnapshot: async (_from, _header, chunks) => {
      for await (const _ of chunks);
    },
    onForward: (_from, _kind, payload) => Promise.resolve(payload),
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function messageCase(
  a: PeerTransport,
  to: NodeId,
  recv: Counters,
  size: number,
  burst: number,
  window: number,
): Promise<void> {
  const payload = new Uint8Array(size).fill(1);
  // Warm up the stream so connection setup is not measured.
  a.send(to, payload);
  while (recv.messages < 1) await turn();
  const start = { ...recv };
  const dropsBefore = a.stats().messagesDropped;
  let sent = recv.messages;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    const room = Math.min(burst, window - (sent - recv.messages));
    for (let i = 0; i < room; i++) a.send(to, payload);
    sent += Math.max(0, room);
    await turn();
  }
  while (recv.messages < sent - (a.stats().messagesDropped - dropsBefore)) await turn();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const msgs = recv.messages - start.messages;
  const batches = recv.batches - start.batches;
  const mb = (recv.bytes - start.bytes) / 1e6;
  print(
    [
      `size=${String(size).padStart(6)}B`,
      `burst=${String(burst).padStart(5)}`,
      `window=${String(window).padStart(5)}`,
      `msgs/s=${Math.round(msgs / secs)
        .toLocaleString('en-US')
        .padStart(10)}`,
      `batches/s=${Math.round(batches / secs)
        .toLocaleString('en-US')
        .padStart(8)}`,
      `msgs/batch=${(msgs / Math.max(1, batches)).toFixed(1).padStart(7)}`,
      `MB/s=${(mb / secs).toFixed(1).padStart(7)}`,
      `dropped=${a.stats().messagesDropped - dropsBefore}`,
    ].join('  '),
  );
}

async function forwardCase(a: PeerTransport, to: NodeId, concurrency: number, label: string): Promise<void> {
  const payload = new Uint8Array(128);
  await a.forward(to, 'k', payload, 5_000);
  let done = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (process.hrtime.bigint() < deadline) {
        await a.forward(to, 'k', payload, 5_000);
        done++;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  print(
    `forward ${label.padEnd(9)} concurrency=${String(concurrency).padStart(3)}  calls/s=${Math.round(
      done / secs,
    )
      .toLocaleString('en-US')
      .padStart(8)}  mean latency=${((secs * 1000 * concurrency) / done).toFixed(3)} ms`,
  );
}

async function main(): Promise<void> {
  const recvA: Counters = { messages: 0, batches: 0, bytes: 0 };
  const recvB: Counters = { messages: 0, batches: 0, bytes: 0 };
  const common = { clusterId: 'bench', listenAddr: '127.0.0.1:0', peers: new Map<NodeId, string>(), logger };
  const a = new PeerTransport({ ...common, selfId: nodeId(1), handler: handler(recvA) });
  const b = new PeerTransport({ ...common, selfId: nodeId(2), handler: handler(recvB) });
  await a.start();
  await b.start();
  const peers = new Map([
    [nodeId(1), `127.0.0.1:${a.port}`],
    [nodeId(2), `127.0.0.1:${b.port}`],
  ]);
  a.setPeers(peers);
  b.setPeers(peers);
  print(`transport bench: ${seconds}s per case, node ${process.version}`);
  for (const [size, burst, window] of [
    [100, 1, 1],
    [100, 64, 1024],
    [100, 1024, 4096],
    [1024, 1024, 4096],
    [16 * 1024, 256, 1024],
    [256 * 1024, 16, 64],
  ] as const) {
    await messageCase(a, nodeId(2), recvB, size, burst, window);
  }
  for (const c of [1, 64]) await forwardCase(a, nodeId(2), c, 'unary');
  // Same API, requests pipelined over one ForwardStream.
  const p = new PeerTransport({
    ...common,
    selfId: nodeId(3),
    handler: handler(recvA),
    pipelineForwards: true,
    peers,
  });
  await p.start();
  for (const c of [1, 64]) await forwardCase(p, nodeId(2), c, 'pipelined');
  await Promise.all([a.stop(), b.stop(), p.stop()]);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
