/**
 * Observability: /metrics (Prometheus text), /healthz and /readyz on real members, the counters
 * only the member sees (through MemberMetrics), and the gRPC interceptor on an in-process server.
 * Runtime budget: ≤ 30 s (one three-member cluster; measured ~8 s).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readiness } from '../../src/api/http-server.js';
import { Metrics } from '../../src/api/metrics.js';
import { TestCluster, call, until, watchStream } from '../integration/harness.js';

/** Prometheus text format: `name{label="v",...} value` per sample line; comments start with #. */
type Samples = Map<string, number>;
function parseMetrics(text: string): { samples: Samples; helped: Set<string> } {
  const samples: Samples = new Map();
  const helped = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) helped.add(line.split(' ')[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return { samples, helped };
}

async function scrape(httpAddr: string): Promise<Samples> {
  const r = await fetch(`http://${httpAddr}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await r.text()).samples;
}

function get(s: Samples, key: string): number {
  const v = s.get(key);
  if (v === undefined) throw new Error(`no sample ${key}`);
  return v;
}

/** Every metric a member exports (read from the outside or counted through MemberMetrics). */
const EXPORTED = [
  'arbor_raft_term',
  'arbor_raft_role',
  'arbor_raft_leader_id',
  'arbor_raft_has_leader',
  'arbor_raft_commit_index',
  'arbor_raft_applied_index',
  'arbor_raft_voters',
  'arbor_raft_learners',
  'arbor_raft_leader_changes_total',
  'arbor_proposals_committed_total',
  'arbor_proposals_failed_total',
  'arbor_commit_latency_seconds',
  'arbor_apply_latency_seconds',
  'arbor_fsync_latency_seconds',
  'arbor_snapshots_total',
  'arbor_log_entries',
  'arbor_log_start_index',
  'arbor_db_size_bytes',
  'arbor_storage_last_sync_seconds',
  'arbor_storage_synced_batches_total',
  'arbor_watches_active',
  'arbor_sessions',
  'arbor_znodes',
  'arbor_grpc_requests_total',
  'arbor_grpc_request_duration_seconds',
  'arbor_grpc_requests_in_flight',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_seconds',
];

describe('a member’s HTTP endpoint', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('exports every documented metric', async () => {
    const text = await (await fetch(`http://${cluster.member(1).httpAddr}/metrics`)).text();
    const { helped } = parseMetrics(text);
    for (const name of EXPORTED) expect(helped, name).toContain(name);
  });

  it('role, leader and term agree across members: exactly one leader', async () => {
    const leader = await cluster.waitForLeader();
    const all = await Promise.all(cluster.members.map((m) => scrape(m.httpAddr)));
    expect(all.map((s) => get(s, 'arbor_raft_role{role="leader"}'))).toEqual(
      cluster.members.map((m) => (m.id === leader ? 1 : 0)),
    );
    for (const s of all) {
      expect(get(s, 'arbor_raft_leader_id')).toBe(leader);
      expect(get(s, 'arbor_raft_has_leader')).toBe(1);
      expect(get(s, 'arbor_raft_term')).toBe(get(all[0]!, 'arbor_raft_term'));
      expect(get(s, 'arbor_raft_voters')).toBe(3);
    }
  });

  it('indexes, znodes, log size and storage batches grow under load; watches and sessions are counted', async () => {
    const m = cluster.member(2);
    const before = await scrape(m.httpAddr);
    const stub = cluster.arbor(2);
    const N = 200;
    await call(stub, 'Create', { path: '/load' });
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        call(stub, 'Create', { path: `/load/n${i}`, data: Buffer.alloc(100) }),
      ),
    );
    const session = await call(stub, 'OpenSession', { timeout_ms: 10_000 });
    const w = watchStream(stub, { path: '/load', scope: 2 });
    const after = await until(
      async () => {
        const s = await scrape(m.httpAddr);
        return get(s, 'arbor_watches_active') >= 1 && get(s, 'arbor_sessions') >= 1 ? s : undefined;
      },
      10_000,
      'the watch and the session to show',
    );
    const grew = (k: string, by: number): void =>
      expect(get(after, k) - get(before, k), k).toBeGreaterThanOrEqual(by);
    grew('arbor_raft_applied_index', N + 1);
    grew('arbor_raft_commit_index', N + 1);
    grew('arbor_znodes', N + 1);
    grew('arbor_log_entries', N + 1);
    grew('arbor_storage_synced_batches_total', 1);
    expect(get(after, 'arbor_storage_last_sync_seconds')).toBeGreaterThan(0);
    expect(get(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // Counted by the member and the API as they happen (wired in main.ts).
    grew('arbor_apply_latency_seconds_count', 1);
    grew('arbor_fsync_latency_seconds_count', 1);
    // Counted by method and final status; no Create had finished on this member before the load.
    expect(
      get(after, 'arbor_grpc_requests_total{method="arbor.v1.Arbor/Create",code="OK"}'),
    ).toBeGreaterThanOrEqual(N + 1);
    const leaderId = await cluster.waitForLeader();
    const onLeader = await scrape(cluster.member(leaderId).httpAddr);
    expect(get(onLeader, 'arbor_proposals_committed_total')).toBeGreaterThanOrEqual(N + 1);

    w.cancel();
    await call(stub, 'CloseSession', { session_id: session.session_id });
    await until(
      async () => {
        const s = await scrape(m.httpAddr);
        return get(s, 'arbor_watches_active') === 0 && get(s, 'arbor_sessions') === 0 ? true : undefined;
      },
      10_000,
      'the watch and the session to go',
    );
  });

  it('/healthz is 200, unknown paths 404, other methods 405', async () => {
    const addr = cluster.member(1).httpAddr;
    expect((await fetch(`http://${addr}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${addr}/nope`)).status).toBe(404);
    expect((await fetch(`http://${addr}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('/readyz: ready with a leader; a new term after the leader dies; not ready without a quorum', async () => {
    const readyz = async (id: number): Promise<{ status: number; body: string }> => {
      const r = await fetch(`http://${cluster.member(id).httpAddr}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    for (const m of cluster.members) expect((await readyz(m.id)).status).toBe(200);

    const old = await cluster.waitForLeader();
    const survivor = cluster.members.find((m) => m.id !== old)!.id;
    const termBefore = get(await scrape(cluster.member(survivor).httpAddr), 'arbor_raft_term');
    await cluster.kill(old);
    const next = await cluster.waitForLeader(30_000, [old]);
    const s = await scrape(cluster.member(survivor).httpAddr);
    expect(get(s, 'arbor_raft_leader_id')).toBe(next);
    expect(get(s, 'arbor_raft_term')).toBeGreaterThan(termBefore);
    expect((await readyz(survivor)).status).toBe(200);

    // Alone, the last member cannot confirm any leader's commit index: not ready, and it says why.
    const last = cluster.members.find((m) => m.id !== old && m.id !== next)!.id;
    await cluster.kill(next);
    const r = await until(
      async () => {
        const x = await readyz(last);
        return x.status === 503 ? x : undefined;
      },
      15_000,
      '/readyz to fail without a quorum',
    );
    expect(r.body).toMatch(/^not ready: (no leader|not caught up with leader)/);
  });
});

describe('readiness', () => {
  const status = (leader: number) => ({ leader, term: 3, role: 'follower', applied: 7, commit: 9 }) as never;
  it.each<[string, Parameters<typeof readiness>[0], boolean, RegExp]>([
    ['no leader', { status: () => status(0), linearize: () => Promise.resolve(9) }, false, /^no leader/],
    [
      'leader unconfirmed',
      { status: () => status(2), linearize: () => Promise.reject(new Error('deadline')) },
      false,
      /^not caught up with leader 2: applied 7, commit 9 \(deadline\)/,
    ],
    [
      'caught up',
      { status: () => status(2), linearize: () => Promise.resolve(9) },
      true,
      /^leader 2, applied 9/,
    ],
  ])('%s', async (_n, member, ready, detail) => {
    const r = await readiness(member);
    expect(r.ready).toBe(ready);
    expect(r.detail).toMatch(detail);
  });
});

describe('MemberMetrics: what the member counts as it happens', () => {
  it('each call shows in the exported samples', async () => {
    const m = new Metrics({ processMetrics: false });
    m.member.leaderChanged();
    m.member.leaderChanged();
    m.member.proposalCommitted();
    m.member.proposalFailed('leadershipLost');
    m.member.commitLatency(0.003);
    m.member.applyLatency(0.001);
    m.member.fsyncLatency(0.0007);
    m.member.snapshot('sent');
    const s = parseMetrics(await m.render()).samples;
    expect(get(s, 'arbor_raft_leader_changes_total')).toBe(2);
    expect(get(s, 'arbor_proposals_committed_total')).toBe(1);
    expect(get(s, 'arbor_proposals_failed_total{reason="leadershipLost"}')).toBe(1);
    expect(get(s, 'arbor_commit_latency_seconds_bucket{le="0.004"}')).toBe(1);
    expect(get(s, 'arbor_commit_latency_seconds_bucket{le="0.002"}')).toBe(0);
    expect(get(s, 'arbor_apply_latency_seconds_count')).toBe(1);
    expect(get(s, 'arbor_fsync_latency_seconds_sum')).toBeCloseTo(0.0007);
    expect(get(s, 'arbor_snapshots_total{kind="sent"}')).toBe(1);
  });
});

describe('the gRPC interceptor', () => {
  const raw = {
    serialize: (b: Buffer): Buffer => b,
    deserialize: (b: Buffer): Buffer => b,
  };
  const def = (
    name: string,
    responseStream: boolean,
    requestStream = false,
  ): grpc.MethodDefinition<Buffer, Buffer> => ({
    path: `/test.Svc/${name}`,
    requestStream,
    responseStream,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  });
  const service = {
    Echo: def('Echo', false),
    Fail: def('Fail', false),
    Tail: def('Tail', true),
    Chat: def('Chat', true, true),
  };
  let server: grpc.Server;
  let client: grpc.Client & Record<string, any>;
  const metrics = new Metrics({ processMetrics: false });

  beforeAll(async () => {
    server = new grpc.Server({ interceptors: [metrics.grpcInterceptor] });
    server.addService(service, {
      Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, c.request),
      Fail: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.NOT_FOUND, details: 'no' }),
      Tail: (c: grpc.ServerWritableStream<Buffer, Buffer>) => c.write(Buffer.from('first')),
      Chat: (c: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        c.on('data', (b: Buffer) => c.write(b));
        c.on('end', () => c.end());
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    const Ctor = grpc.makeGenericClientConstructor(service, 'Svc');
    client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as never;
  });
  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  const unary = (method: string): Promise<grpc.ServiceError | null> =>
    new Promise((resolve) => client[method](Buffer.from('x'), (e: grpc.ServiceError | null) => resolve(e)));

  it('counts calls by method and status code, and times unary calls', async () => {
    expect(await unary('Echo')).toBeNull();
    expect(await unary('Echo')).toBeNull();
    expect((await unary('Fail'))?.code).toBe(grpc.status.NOT_FOUND);
    const s = parseMetrics(await metrics.render()).samples;
    expect(get(s, 'arbor_grpc_requests_total{method="test.Svc/Echo",code="OK"}')).toBe(2);
    expect(get(s, 'arbor_grpc_requests_total{method="test.Svc/Fail",code="NOT_FOUND"}')).toBe(1);
    expect(get(s, 'arbor_grpc_request_duration_seconds_count{method="test.Svc/Echo",code="OK"}')).toBe(2);
    expect(get(s, 'arbor_grpc_requests_in_flight{method="test.Svc/Echo"}')).toBe(0);
  });

  it('tracks a stream in flight until the client cancels it', async () => {
    const stream = client.Tail(Buffer.from('x')) as grpc.ClientReadableStream<Buffer>;
    stream.on('error', () => undefined);
    await new Promise((r) => stream.once('data', r));
    const open = parseMetrics(await metrics.render()).samples;
    expect(get(open, 'arbor_grpc_requests_in_flight{method="test.Svc/Tail"}')).toBe(1);
    stream.cancel();
    const closed = await until(
      async () => {
        const s = parseMetrics(await metrics.render()).samples;
        return s.get('arbor_grpc_requests_in_flight{method="test.Svc/Tail"}') === 0 ? s : undefined;
      },
      5_000,
      'the cancelled stream to be counted',
    );
    expect(get(closed, 'arbor_grpc_requests_total{method="test.Svc/Tail",code="CANCELLED"}')).toBe(1);
    expect(
      closed.has('arbor_grpc_request_duration_seconds_count{method="test.Svc/Tail",code="CANCELLED"}'),
    ).toBe(false);
  });

  it('passes bidirectional streams through untouched and counts them when they end', async () => {
    const chat = client.Chat() as grpc.ClientDuplexStream<Buffer, Buffer>;
    const got: string[] = [];
    chat.on('data', (b: Buffer) => got.push(b.toString()));
    const ended = new Promise((r) => chat.on('status', r));
    chat.write(Buffer.from('a'));
    chat.write(Buffer.from('b'));
    chat.end();
    await ended;
    expect(got).toEqual(['a', 'b']);
    const s = parseMetrics(await metrics.render()).samples;
    expect(get(s, 'arbor_grpc_requests_total{method="test.Svc/Chat",code="OK"}')).toBe(1);
    expect(get(s, 'arbor_grpc_requests_in_flight{method="test.Svc/Chat"}')).toBe(0);
  });
});
