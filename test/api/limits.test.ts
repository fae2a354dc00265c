/**
 * Every limit on the client and peer ports, hit on purpose against in-process members: each
 * refusal carries the gRPC status the API promises and a message that names what to change.
 * Two members run in this process: `open`, a one-member cluster with small limits, and `stuck`,
 * member 1 of a two-member cluster whose partner never starts, so it never has a leader and
 * every linearizable read stays in flight until its deadline (how requests pile up on a
 * connection without a slow client).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey, clientIdentity } from '../../src/api/client-identity.js';
import { freePort, until } from '../../src/bench/proc-cluster.js';
import { startInProcess, waitServing, type InProcessMember } from './in-process.js';
import { arborStub, call, rawStatus, type GrpcError, type Msg, type Stub } from '../integration/harness.js';

const MAX = {
  pathBytes: 64,
  depth: 4,
  children: 3,
  multiOps: 5,
  dataBytes: 1000,
  requestDataBytes: 2500,
  messageBytes: 70_000,
  peerMessageBytes: 200_000,
  requests: 4,
  watches: 3,
  sessions: 2,
};

const stubs: grpc.Client[] = [];
let open: InProcessMember;
let stuck: InProcessMember;

/** A stub on its own connection: grpc-js would otherwise share one connection per address. */
function connect(addr: string): Stub {
  const s = arborStub(addr, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_send_message_length': -1,
  });
  stubs.push(s);
  return s;
}

async function refusal(p: Promise<unknown>): Promise<GrpcError> {
  try {
    await p;
  } catch (e) {
    return e as GrpcError;
  }
  throw new Error('expected the call to be refused');
}

beforeAll(async () => {
  open = await startInProcess([
    ...['--max-path-bytes', String(MAX.pathBytes), '--max-path-depth', String(MAX.depth)],
    ...['--max-children', String(MAX.children), '--max-multi-ops', String(MAX.multiOps)],
    ...['--max-data-bytes', String(MAX.dataBytes)],
    ...['--max-request-data-bytes', String(MAX.requestDataBytes)],
    ...['--max-message-bytes', String(MAX.messageBytes)],
    ...['--peer-max-message-bytes', String(MAX.peerMessageBytes)],
    ...['--max-watches-per-connection', String(MAX.watches)],
    ...['--max-sessions-per-client', String(MAX.sessions)],
  ]);
  const nobody = `2=127.0.0.1:${await freePort()}`;
  stuck = await startInProcess(['--max-requests-per-connection', String(MAX.requests)], [nobody]);
  // The one-member cluster elects itself; wait until it serves writes.
  const s = connect(open.clientAddr);
  await waitServing(s);
}, 60_000);

afterAll(async () => {
  for (const s of stubs) s.close();
  await Promise.all([open?.stop(), stuck?.stop()]);
}, 30_000);

describe('tree limits (the same on every member)', () => {
  it.each<[string, () => Msg, string, number, RegExp]>([
    [
      '--max-path-bytes',
      () => ({ path: '/' + 'p'.repeat(MAX.pathBytes) }),
      'Create',
      grpc.status.INVALID_ARGUMENT,
      /the limit is 64: use a shorter path/,
    ],
    [
      '--max-path-depth',
      () => ({ path: '/a/b/c/d/e', create_parents: true }),
      'Create',
      grpc.status.INVALID_ARGUMENT,
      /5 segments; the limit is 4: use a shallower path/,
    ],
    [
      '--max-data-bytes',
      () => ({ path: '/big', data: Buffer.alloc(MAX.dataBytes + 1) }),
      'Create',
      grpc.status.INVALID_ARGUMENT,
      /limit is 1000 bytes: store less per znode/,
    ],
    [
      '--max-multi-ops',
      () => ({ ops: Array.from({ length: MAX.multiOps + 1 }, (_, i) => ({ create: { path: `/m${i}` } })) }),
      'Multi',
      grpc.status.RESOURCE_EXHAUSTED,
      /6 ops; the limit is 5: split it into smaller transactions/,
    ],
    [
      '--max-request-data-bytes',
      () => ({
        ops: [0, 1, 2].map((i) => ({ create: { path: `/d${i}`, data: Buffer.alloc(MAX.dataBytes) } })),
      }),
      'Multi',
      grpc.status.RESOURCE_EXHAUSTED,
      /3000 bytes of data; the limit is 2500 \(--max-request-data-bytes\): split it/,
    ],
  ])('%s refuses a request beyond it', async (_flag, req, method, code, message) => {
    const e = await refusal(call(connect(open.clientAddr), method, req()));
    expect(e.code).toBe(code);
    expect(e.details).toMatch(message);
  });

  it('--max-children refuses the child beyond it, and only that one', async () => {
    const s = connect(open.clientAddr);
    await call(s, 'Create', { path: '/kids' });
    for (let i = 0; i < MAX.children; i++) await call(s, 'Create', { path: `/kids/k${i}` });
    const e = await refusal(call(s, 'Create', { path: '/kids/one-too-many' }));
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.details).toMatch(/already has 3 children, the limit: delete some or use another parent/);
    expect((await call(s, 'GetChildren', { path: '/kids' })).children).toHaveLength(MAX.children);
  });
});

describe('message size on both ports', () => {
  it('--max-message-bytes: the client port refuses a larger message', async () => {
    const e = await refusal(
      call(connect(open.clientAddr), 'Set', { path: '/', data: Buffer.alloc(MAX.messageBytes + 1) }),
    );
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.details).toMatch(/larger than max \(\d+ vs 70000\)/);
  });

  it('--peer-max-message-bytes: the peer port refuses a larger message', async () => {
    const code = await rawStatus(
      open.peerAddr,
      grpc.credentials.createInsecure(),
      '/arbor.peer.v1.Peer/Forward',
      new Uint8Array(MAX.peerMessageBytes + 1),
    );
    expect(code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // The member is unharmed.
    await call(connect(open.clientAddr), 'Sync', { path: '/' });
  });
});

describe('watches per connection', () => {
  it('--max-watches-per-connection refuses the watch beyond it on that connection only', async () => {
    const a = connect(open.clientAddr);
    const watches: grpc.ClientReadableStream<Msg>[] = [];
    const openWatch = (s: Stub, p: string): Promise<GrpcError | 'created'> => {
      const w = (s.Watch as (r: Msg) => grpc.ClientReadableStream<Msg>).call(s, { path: p });
      watches.push(w);
      return new Promise((resolve) => {
        w.on('data', (r: Msg) => r.created && resolve('created'));
        w.on('error', (e: GrpcError) => resolve(e));
      });
    };
    for (let i = 0; i < MAX.watches; i++) expect(await openWatch(a, `/w${i}`)).toBe('created');
    const e = (await openWatch(a, '/one-too-many')) as GrpcError;
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.details).toMatch(
      /3 watches are already open on this connection \(--max-watches-per-connection\)/,
    );
    // Another connection has its own budget; cancelling a watch gives one back.
    expect(await openWatch(connect(open.clientAddr), '/elsewhere')).toBe('created');
    watches[0]!.cancel();
    await until(async () => (await openWatch(a, '/again')) === 'created', 10_000, 'a freed watch slot');
    for (const w of watches) w.cancel();
  });
});

describe('sessions per client', () => {
  it('--max-sessions-per-client refuses the session beyond it until one closes', async () => {
    const s = connect(open.clientAddr);
    const ids: string[] = [];
    for (let i = 0; i < MAX.sessions; i++) {
      ids.push((await call(s, 'OpenSession', { timeout_ms: 30_000 })).session_id as string);
    }
    // A second connection from the same address is the same client.
    const e = await refusal(call(connect(open.clientAddr), 'OpenSession', { timeout_ms: 30_000 }));
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.details).toMatch(
      /client 127\.0\.0\.1 already has 2 sessions open through this member \(--max-sessions-per-client 2\): close sessions/,
    );
    await call(s, 'CloseSession', { session_id: ids[0] });
    const again = await call(s, 'OpenSession', { timeout_ms: 30_000 });
    expect(again.session_id).not.toBe('0');
    for (const id of [ids[1], again.session_id]) await call(s, 'CloseSession', { session_id: id });
  });

  it('the client identity is the address without the port, or the authenticated identity', () => {
    const peer = (p: string): { getPeer(): string } => ({ getPeer: () => p });
    expect(clientIdentity(peer('10.1.2.3:50123'))).toBe('10.1.2.3');
    expect(clientIdentity(peer('::1:50123'))).toBe('::1');
    expect(clientIdentity(peer('::ffff:10.1.2.3:4000'))).toBe('10.1.2.3');
    expect(clientIdentity(peer('fe80::1:4000'))).toBe('fe80::1');
    // While auth is on the budget follows the identity, not the address.
    expect(budgetKey(peer('10.1.2.3:50123'), undefined)).toBe('10.1.2.3');
    expect(budgetKey(peer('10.1.2.3:50123'), [])).toBe('10.1.2.3');
    expect(budgetKey(peer('10.1.2.3:50123'), ['user:alice'])).toBe('user:alice');
    expect(budgetKey(peer('10.9.9.9:1'), ['x509:CN=a', 'user:alice'])).toBe('x509:CN=a user:alice');
  });
});

describe('requests in flight per connection (backpressure, never a queue)', () => {
  /** A linearizable read on the leaderless member: in flight until its deadline. */
  const pendingGet = (s: Stub, ms: number): Promise<GrpcError> => refusal(call(s, 'Get', { path: '/' }, ms));

  it('--max-requests-per-connection refuses unary calls beyond it at once, and frees the slots as calls end', async () => {
    const s = connect(stuck.clientAddr);
    const held = Array.from({ length: MAX.requests }, () => pendingGet(s, 4000));
    // Give the held calls time to arrive before the one that must be refused.
    await until(
      async () => {
        const e = await refusal(call(s, 'Get', { path: '/' }, 2000));
        return e.code === (grpc.status.RESOURCE_EXHAUSTED as number) ? e : undefined;
      },
      10_000,
      'the call beyond the budget to be refused',
    ).then((e) => {
      expect(e.details).toMatch(
        /4 requests are already in flight on this connection \(--max-requests-per-connection\): wait for answers/,
      );
    });
    for (const e of await Promise.all(held)) expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The budget comes back once the member has given up on them too (at their deadline): the
    // next call is admitted, and waits for a leader like the others.
    await until(
      async () => (await pendingGet(s, 500)).code === (grpc.status.DEADLINE_EXCEEDED as number),
      10_000,
      'a freed slot',
    );
  }, 30_000);

  it('pipelined Stream requests share the budget and are answered RESOURCE_EXHAUSTED by id', async () => {
    const s = connect(stuck.clientAddr);
    const st = (s.Stream as () => grpc.ClientDuplexStream<Msg, Msg>).call(s);
    const answers = new Map<string, Msg>();
    st.on('data', (r: Msg) => answers.set(String(r.id), r));
    st.on('error', () => undefined);
    for (let i = 1; i <= MAX.requests + 2; i++) st.write({ id: i, get: { path: '/' } });
    const refused = await until(
      () => (answers.size >= 2 ? [...answers.values()] : undefined),
      10_000,
      'the requests beyond the budget to be answered',
    );
    expect(refused.map((a) => Number(a.id)).sort()).toEqual([5, 6]);
    for (const a of refused) {
      expect(a.error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(a.error.message).toMatch(/--max-requests-per-connection/);
    }
    // A unary call on the same connection draws on the same budget.
    const e = await refusal(call(s, 'Get', { path: '/' }, 2000));
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Another connection is not affected by this one's backlog.
    const other = connect(stuck.clientAddr);
    expect((await pendingGet(other, 300)).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    st.cancel();
  }, 30_000);
});
