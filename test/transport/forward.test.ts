import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PeerError } from '../../src/transport/index.js';
import { nodeId } from '../../src/util/brand.js';
import { dec, enc, startMember, waitFor, wire, type Member, type MemberOptions } from './harness.js';

const started: Member[] = [];
let mode: MemberOptions = {};
async function pair(opts: MemberOptions = {}): Promise<[Member, Member]> {
  const a = await startMember(1, { ...mode, ...opts });
  const b = await startMember(2);
  started.push(a, b);
  wire(a, b);
  return [a, b];
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.transport.stop()));
});

// One contract, two carriers: a unary call per forward, or requests pipelined on one stream.
describe.each([
  ['unary', false],
  ['pipelined', true],
])('forwarding (%s)', (_carrier, pipelineForwards) => {
  beforeEach(() => {
    mode = { pipelineForwards };
  });

  it('round-trips kind, payload and sender', async () => {
    const [a, b] = await pair();
    const seen: unknown[] = [];
    b.recorder.forwardImpl = (from, kind, payload, deadlineMs) => {
      seen.push({ from, kind, payload: dec(payload) });
      expect(deadlineMs).toBeGreaterThan(0);
      expect(deadlineMs).toBeLessThanOrEqual(5_000);
      return Promise.resolve(enc(`ok:${dec(payload)}`));
    };
    const res = await a.transport.forward(b.id, 'propose', enc('create /x'), 5_000);
    expect(dec(res)).toBe('ok:create /x');
    expect(seen).toEqual([{ from: a.id, kind: 'propose', payload: 'create /x' }]);
  });

  it('carries empty and binary payloads unchanged', async () => {
    const [a, b] = await pair();
    b.recorder.forwardImpl = (_f, _k, payload) => Promise.resolve(payload);
    expect((await a.transport.forward(b.id, 'k', new Uint8Array(0), 1_000)).byteLength).toBe(0);
    const bin = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...(await a.transport.forward(b.id, 'k', bin, 1_000))]).toEqual([...bin]);
  });

  it('pipelines many concurrent forwards', async () => {
    const [a, b] = await pair();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => a.transport.forward(b.id, 'k', enc(String(i)), 5_000)),
    );
    expect(results.map(dec)).toEqual(Array.from({ length: 200 }, (_, i) => `k:${i}`));
  });

  it.each([
    [
      'a PeerError keeps its code and message',
      new PeerError(status.FAILED_PRECONDITION, 'not leader: 3'),
      status.FAILED_PRECONDITION,
      'not leader: 3',
    ],
    ['any other error becomes INTERNAL', new Error('apply failed'), status.INTERNAL, 'apply failed'],
  ])('propagates handler errors: %s', async (_name, thrown, code, message) => {
    const [a, b] = await pair();
    b.recorder.forwardImpl = () => Promise.reject(thrown);
    const e = await a.transport.forward(b.id, 'propose', enc('x'), 1_000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PeerError);
    expect(e).toMatchObject({ code, message });
  });

  it('a handler that throws synchronously is an error status, not a crash', async () => {
    const [a, b] = await pair();
    b.recorder.forwardImpl = () => {
      throw new PeerError(status.ABORTED, 'sync');
    };
    await expect(a.transport.forward(b.id, 'k', enc('x'), 1_000)).rejects.toMatchObject({
      code: status.ABORTED,
      message: 'sync',
    });
  });

  it('fails with DEADLINE_EXCEEDED when the leader does not answer in time', async () => {
    const [a, b] = await pair();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    b.recorder.forwardImpl = async () => {
      await gate;
      return enc('late');
    };
    await expect(a.transport.forward(b.id, 'k', enc('x'), 100)).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    });
    release();
  });

  it('counts a fault delay against the deadline', async () => {
    const [a, b] = await pair({ faults: { drop: () => false, delayMs: () => 50 } });
    await expect(a.transport.forward(b.id, 'k', enc('x'), 20)).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    });
    expect(dec(await a.transport.forward(b.id, 'k', enc('y'), 5_000))).toBe('k:y');
  });

  it('fails with UNAVAILABLE for an unknown or stopped peer', async () => {
    const [a, b] = await pair();
    await expect(a.transport.forward(nodeId(9), 'k', enc('x'), 1_000)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
    await b.transport.stop();
    await expect(a.transport.forward(b.id, 'k', enc('x'), 1_000)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });

  it('rejects a forward from another cluster with FAILED_PRECONDITION', async () => {
    const a = await startMember(1, { ...mode, clusterId: 'other-cluster' });
    const b = await startMember(2);
    started.push(a, b);
    wire(a, b);
    await expect(a.transport.forward(b.id, 'k', enc('x'), 1_000)).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      message: 'wrong cluster id',
    });
  });

  it('a forward in flight to a peer that leaves the configuration still gets its answer', async () => {
    // The RemoveMember that removes the leader is forwarded to it and answered after it applied.
    const [a, b] = await pair();
    let answer: ((v: Uint8Array) => void) | undefined;
    b.recorder.forwardImpl = () => new Promise<Uint8Array>((resolve) => (answer = resolve));
    const inFlight = a.transport.forward(b.id, 'admin', enc('remove 2'), 10_000);
    await waitFor(() => answer !== undefined, 'the request reaches the peer');
    a.transport.setPeers(new Map([[a.id, a.addr()]]));
    answer!(enc('removed'));
    expect(dec(await inFlight)).toBe('removed');
    await expect(a.transport.forward(b.id, 'k', enc('x'), 1_000)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });

  it('fails every unanswered request when the peer goes away, then works again after it returns', async () => {
    const [a, b] = await pair();
    let arrived = 0;
    b.recorder.forwardImpl = () => {
      arrived++;
      return new Promise<Uint8Array>(() => undefined);
    };
    const pending = Array.from({ length: 5 }, (_, i) =>
      a.transport.forward(b.id, 'k', enc(String(i)), 10_000).catch((e: unknown) => e),
    );
    const port = b.transport.port;
    await waitFor(() => arrived === 5, 'requests reach the leader');
    await b.transport.stop();
    for (const e of await Promise.all(pending)) {
      expect(e).toBeInstanceOf(PeerError);
      expect((e as PeerError).code).toBe(status.UNAVAILABLE);
    }
    const b2 = await startMember(2, { listenAddr: `127.0.0.1:${port}` });
    started.push(b2);
    await waitFor(async () => {
      try {
        return dec(await a.transport.forward(b2.id, 'k', enc('again'), 1_000)) === 'k:again';
      } catch {
        return false;
      }
    }, 'forward to the restarted peer');
  });
});
