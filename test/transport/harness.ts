/** Real transports on 127.0.0.1 port 0, with recording handlers, for the transport tests. */
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { nodeId, type NodeId } from '../../src/util/brand.js';
import { PeerTransport, type PeerHandler, type PeerTransportOptions } from '../../src/transport/index.js';

export const CLUSTER = 'test-cluster';
export const enc = (s: string): Uint8Array => Buffer.from(s);
export const dec = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString();

/** A pino logger whose lines are kept for assertions. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export class Recorder implements PeerHandler {
  readonly batches: Array<{ from: NodeId; messages: string[] }> = [];
  snapshot: PeerHandler['onSnapshot'] = () => Promise.reject(new Error('no snapshot handler'));
  forwardImpl: PeerHandler['onForward'] = (_from, kind, payload) =>
    Promise.resolve(enc(`${kind}:${dec(payload)}`));

  onMessages(from: NodeId, messages: Uint8Array[]): void {
    this.batches.push({ from, messages: messages.map(dec) });
  }
  onSnapshot(from: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    return this.snapshot(from, header, chunks);
  }
  onForward(from: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    return this.forwardImpl(from, kind, payload, deadlineMs);
  }
  messages(from?: NodeId): string[] {
    return this.batches.filter((b) => from === undefined || b.from === from).flatMap((b) => b.messages);
  }
}

export interface Member {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly recorder: Recorder;
  readonly logs: Array<Record<string, unknown>>;
  readonly unreachable: NodeId[];
  addr(): string;
}

export type MemberOptions = Partial<Omit<PeerTransportOptions, 'selfId' | 'handler' | 'logger'>>;

export async function startMember(id: number, opts: MemberOptions = {}): Promise<Member> {
  const recorder = new Recorder();
  const { logger, lines } = captureLogger();
  const transport = new PeerTransport({
    selfId: nodeId(id),
    clusterId: CLUSTER,
    listenAddr: '127.0.0.1:0',
    peers: new Map(),
    handler: recorder,
    logger,
    backoff: { initialMs: 20, maxMs: 200 },
    ...opts,
  });
  const unreachable: NodeId[] = [];
  transport.onUnreachable = (p) => unreachable.push(p);
  await transport.start();
  return {
    id: nodeId(id),
    transport,
    recorder,
    logs: lines,
    unreachable,
    addr: () => `127.0.0.1:${transport.port}`,
  };
}

/** Tells every member where every other member listens. */
export function wire(...members: Member[]): void {
  const peers = new Map(members.map((m) => [m.id, m.addr()] as const));
  for (const m of members) m.transport.setPeers(peers);
}

/** Polls until `cond` holds (no fixed sleeps); fails after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function* chunksOf(parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) {
    await Promise.resolve();
    yield enc(p);
  }
}
