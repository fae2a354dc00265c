import { afterEach, describe, expect, it } from 'vitest';
import {
  ArborClient,
  CancelledError,
  DeadlineError,
  FailedPreconditionError,
  NoNodeError,
  NodeExistsError,
} from '../../src/client/index.js';
import { deadAddress, startFakeCluster, until } from './fake-server.js';

type Cluster = Awaited<ReturnType<typeof startFakeCluster>>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(
  n: number,
  transport: 'stream' | 'unary' = 'stream',
  extra: Partial<ConstructorParameters<typeof ArborClient>[0]> = {},
): Promise<{ cluster: Cluster; client: ArborClient }> {
  const cluster = await startFakeCluster(n);
  const client = new ArborClient({
    endpoints: cluster.endpoints,
    transport,
    backoff: { baseMs: 5, maxMs: 20 },
    defaultDeadlineMs: 3_000,
    ...extra,
  });
  cleanup.push(() => cluster.stop());
  cleanup.push(() => client.close());
  return { cluster, client };
}

describe.each(['stream', 'unary'] as const)('round trips over the %s transport', (transport) => {
  it('create, get, set, exists, children, delete', async () => {
    const { client, cluster } = await setup(1, transport);
    const created = await client.create('/a', 'hello');
    expect(created.path).toBe('/a');
    expect(created.stat).toMatchObject({ version: 0, dataLength: 5, ephemeralOwner: 0n });

    const got = await client.get('/a');
    expect(got.data.toString()).toBe('hello');
    expect(got.revision).toBe(cluster.state.revision);

    const set = await client.set('/a', Buffer.from('bye'), { expectedVersion: 0 });
    expect(set.stat.version).toBe(1);

    await client.create('/a/x');
    await client.create('/a/y', undefined, { mode: 'persistent-sequential' });
    expect((await client.children('/a')).children).toEqual(['x', 'y0000000001']);
    expect(await client.exists('/a/x')).toMatchObject({ exists: true, stat: { version: 0 } });
    expect(await client.exists('/nope')).toEqual({ exists: false, revision: cluster.state.revision });

    await client.delete('/a', { recursive: true });
    expect((await client.exists('/a')).exists).toBe(false);
  });

  it('create with createParents, multi and sync', async () => {
    const { client, cluster } = await setup(1, transport);
    await client.create('/p/q/r', 'x', { createParents: true });
    const results = await client.multi([
      { type: 'check', path: '/p/q/r', expectedVersion: 0 },
      { type: 'set', path: '/p/q/r', data: 'y' },
      { type: 'create', path: '/p/s' },
      { type: 'delete', path: '/p/s' },
    ]);
    expect(results.map((r) => r.type)).toEqual(['check', 'set', 'create', 'delete']);
    expect(await client.sync()).toEqual({ revision: cluster.state.revision });
  });

  it('maps server errors to classes, with the failing op of a multi', async () => {
    const { client } = await setup(1, transport);
    await client.create('/e', 'x');
    await expect(client.get('/missing')).rejects.toBeInstanceOf(NoNodeError);
    await expect(client.create('/e')).rejects.toBeInstanceOf(NodeExistsError);
    await expect(client.set('/e', 'y', { expectedVersion: 7 })).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    const multi = client.multi([
      { type: 'create', path: '/e/1' },
      { type: 'check', path: '/e', expectedVersion: 9 },
    ]);
    await expect(multi).rejects.toBeInstanceOf(FailedPreconditionError);
    if (transport === 'stream') await expect(multi).rejects.toMatchObject({ failedOp: 1 });
    expect((await client.exists('/e/1')).exists).toBe(false);
  });

  it('cluster calls: status, members, add, promote, remove, transfer', async () => {
    const { client, cluster } = await setup(1, transport);
    const st = await client.status();
    expect(st).toMatchObject({
      memberId: 1,
      leaderId: 1,
      term: 3,
      role: 'leader',
      endpoint: cluster.endpoints[0],
    });
    const added = await client.addMember({
      id: 2,
      name: 'm2',
      peerUrl: 'http://m2',
      clientUrl: 'm2:1',
      asLearner: true,
    });
    expect(added.find((m) => m.id === 2)).toMatchObject({ role: 'learner', name: 'm2' });
    expect((await client.promoteMember(2)).find((m) => m.id === 2)?.role).toBe('voter');
    expect((await client.members()).map((m) => m.id)).toEqual([1, 2]);
    expect((await client.removeMember(2)).map((m) => m.id)).toEqual([1]);
    expect(await client.transferLeader()).toEqual({ leaderId: 2 });
    expect(await client.transferLeader(3)).toEqual({ leaderId: 3 });
  });
});

describe('pipelining', () => {
  it('matches out-of-order responses to their requests by id', async () => {
    const { client, cluster } = await setup(1);
    for (let i = 0; i < 8; i++) await client.create(`/n${i}`, `v${i}`);
    cluster.members[0]!.faults.reorderBatch = 8;
    const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => client.get(`/n${i}`)));
    expect(reads.map((r) => r.data.toString())).toEqual(Array.from({ length: 8 }, (_, i) => `v${i}`));
    // All eight went over the one stream.
    expect(cluster.members[0]!.calls.filter((c) => c === 'stream:get')).toHaveLength(8);
  });

  it('packs the requests of one turn when the member announces arbor-batch, answers matched by id', async () => {
    const { client, cluster } = await setup(1);
    const fake = cluster.members[0]!;
    fake.batchSupport = true;
    // The first request opens the stream; the member's initial metadata arrives with its answer.
    await client.create('/b', 'x');
    const sets = await Promise.all(Array.from({ length: 30 }, (_, i) => client.set('/b', `v${i}`)));
    // One stream applies in the order sent: versions 1..30, in the order the calls were made.
    expect(sets.map((r) => r.stat.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const reads = await Promise.all([
      client.get('/b'),
      client.exists('/nope'),
      client.get('/missing').catch((e) => e),
    ]);
    expect(reads[0].data.toString()).toBe('v29');
    expect(reads[1].exists).toBe(false);
    expect(reads[2]).toBeInstanceOf(NoNodeError);
    expect(fake.packs).toEqual([30, 3]);
  });

  it('sends big requests alone, and packs nothing for a member that does not announce it', async () => {
    const { client, cluster } = await setup(1);
    const fake = cluster.members[0]!;
    fake.batchSupport = true;
    await client.create('/big', 'x');
    const big = Buffer.alloc(48 * 1024, 1);
    await Promise.all([client.set('/big', big), client.set('/big', big), client.get('/big')]);
    expect(fake.packs).toEqual([]);
    const plain = await setup(1);
    await plain.client.create('/p', 'x');
    await Promise.all(Array.from({ length: 10 }, () => plain.client.get('/p')));
    expect(plain.cluster.members[0]!.packs).toEqual([]);
    expect(plain.cluster.members[0]!.calls.filter((c) => c === 'stream:get')).toHaveLength(10);
  });

  it('falls back to unary RPCs when the member does not implement Stream', async () => {
    const { client, cluster } = await setup(1);
    cluster.members[0]!.faults.noStream = true;
    await client.create('/u', 'x');
    expect((await client.get('/u')).data.toString()).toBe('x');
    expect(cluster.members[0]!.calls).toContain('create');
  });
});

describe('failover', () => {
  it.each(['stream', 'unary'] as const)('skips a member that is down (%s)', async (transport) => {
    const cluster = await startFakeCluster(1);
    const client = new ArborClient({
      endpoints: [await deadAddress(), cluster.endpoints[0]!],
      transport,
      backoff: { baseMs: 5, maxMs: 20 },
    });
    cleanup.push(
      () => cluster.stop(),
      () => client.close(),
    );
    for (let i = 0; i < 4; i++) await client.create(`/f${i}`);
    for (let i = 0; i < 4; i++) expect((await client.exists(`/f${i}`)).exists).toBe(true);
  });

  it('skips a member that answers UNAVAILABLE, and spreads reads over the rest', async () => {
    const { client, cluster } = await setup(3);
    cluster.members[0]!.faults.unavailable = true;
    await client.create('/g', 'x');
    for (let i = 0; i < 6; i++) await client.get('/g');
    const served = cluster.members.map((m) => m.calls.filter((c) => c === 'stream:get').length);
    expect(served[0]).toBe(0);
    expect(served[1]! > 0 && served[2]! > 0).toBe(true);
  });

  it('sends writes straight to the leader once it knows its address, and keeps reads spread', async () => {
    const cluster = await startFakeCluster(3);
    // Status names member 1 as leader; make its client address the third endpoint's.
    cluster.state.members = [
      { ...cluster.state.members[0]!, clientUrl: cluster.endpoints[2]! },
      {
        id: '2',
        name: 'm2',
        clientUrl: cluster.endpoints[0]!,
        peerUrl: 'http://m2',
        role: 'VOTER',
        healthy: true,
      },
    ];
    const client = new ArborClient({ endpoints: cluster.endpoints, backoff: { baseMs: 5, maxMs: 20 } });
    cleanup.push(
      () => cluster.stop(),
      () => client.close(),
    );
    const writesAt = (): number[] =>
      cluster.members.map((m) => m.calls.filter((c) => c === 'stream:create').length);
    // The leader is learnt in the background; until then writes are served (forwarded) elsewhere.
    const end = Date.now() + 5_000;
    for (let n = 0; writesAt()[2] === 0; n++) {
      expect(Date.now()).toBeLessThan(end);
      await client.create(`/w${n}`);
    }
    const before = writesAt();
    for (let i = 0; i < 5; i++) await client.create(`/l${i}`);
    const after = writesAt();
    expect(after[2]! - before[2]!).toBe(5);
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toBe(before[1]);
  });

  it('shares one connection per member among clients unless each asks for its own', async () => {
    const cluster = await startFakeCluster(1);
    cleanup.push(() => cluster.stop());
    const member = cluster.members[0]!;
    const clients = (own: boolean): ArborClient[] =>
      [1, 2, 3].map(() => new ArborClient({ endpoints: cluster.endpoints, ownConnections: own }));
    const shared = clients(false);
    cleanup.push(async () => {
      await Promise.all(shared.map((c) => c.close()));
    });
    for (const [i, c] of shared.entries()) await c.create(`/s${i}`);
    expect(member.streamPeers.size).toBe(1);
    const own = clients(true);
    cleanup.push(async () => {
      await Promise.all(own.map((c) => c.close()));
    });
    for (const [i, c] of own.entries()) await c.create(`/o${i}`);
    expect(member.streamPeers.size).toBe(4);
  });

  it('gives up with DeadlineError when no member answers before the deadline', async () => {
    const { client, cluster } = await setup(2);
    for (const m of cluster.members) m.faults.unavailable = true;
    const err = await client.get('/x', { deadlineMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineError);
    expect((err as DeadlineError).outcomeUnknown).toBe(true);
  });
});

describe('exactly-once writes', () => {
  it.each(['stream', 'unary'] as const)(
    'a write whose answer was lost is retried with the same sequence and applied once (%s)',
    async (transport) => {
      const { client, cluster } = await setup(2, transport);
      await client.create('/c', '0');
      cluster.members.forEach((m) => (m.faults.dropWriteResponses = 1));
      const applied = cluster.state.applied;
      const res = await client.set('/c', '1');
      expect(res.stat.version).toBe(1); // applied once: a second application would make it 2
      expect(cluster.state.applied).toBe(applied + 1);
      const sets = cluster.state.headers.filter((h) => h.op === 'set');
      // Both members lost one answer: three attempts, one sequence.
      expect(sets).toHaveLength(3);
      expect(new Set(sets.map((h) => h.sequence)).size).toBe(1);
      expect(sets[0]!.clientId).toBe(client.clientId);
    },
  );

  it('requests in flight on a stream that breaks are re-sent on a new stream, writes applied once', async () => {
    const { client, cluster } = await setup(2);
    const [first, second] = cluster.members as [(typeof cluster.members)[0], (typeof cluster.members)[0]];
    first.faults.reorderBatch = 1_000; // apply, but hold every answer
    second.faults.reorderBatch = 1_000;
    const writes = Array.from({ length: 5 }, (_, i) => client.create(`/inflight${i}`, String(i)));
    const holder = await (async () => {
      await until(() => cluster.state.applied === 5, 'all five applied, none answered');
      return first.calls.includes('stream:create') ? first : second;
    })();
    const other = holder === first ? second : first;
    other.faults.reorderBatch = 0;
    holder.stop();
    const results = await Promise.all(writes);
    expect(results.map((r) => r.path)).toEqual([0, 1, 2, 3, 4].map((i) => `/inflight${i}`));
    expect(cluster.state.applied).toBe(5);
    // Each sequence sent twice (first attempt, retry), never a new one; the retries in order.
    expect(cluster.state.headers.map((h) => h.sequence)).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
  });

  it('a pack cut off by a broken stream is re-sent whole, each write applied once', async () => {
    const { client, cluster } = await setup(1);
    const fake = cluster.members[0]!;
    fake.batchSupport = true;
    await client.create('/pk', 'x');
    const before = cluster.state.applied;
    const seen = cluster.state.headers.length;
    // The stream breaks after the pack's first write was applied, before it was answered.
    fake.faults.dropWriteResponses = 1;
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => client.create(`/pk/n${i}`, String(i))),
    );
    expect(results.map((r) => r.path)).toEqual([0, 1, 2, 3, 4].map((i) => `/pk/n${i}`));
    expect(cluster.state.applied).toBe(before + 5);
    expect(fake.packs[0]).toBe(5); // the retries may leave before the new stream's header: alone
    // The first write twice (applied, then answered from the client table), the rest once; the
    // retries together and in sequence order (a member refuses a write that would overtake one).
    const seqs = cluster.state.headers.slice(seen).map((h) => h.sequence);
    const s0 = seqs[0]!;
    expect(seqs).toEqual([s0, s0, s0 + 1, s0 + 2, s0 + 3, s0 + 4]);
  });

  it('sequences increase per write and firstUnacked trails the oldest write in flight', async () => {
    const { client, cluster } = await setup(1);
    await Promise.all([client.create('/s1'), client.create('/s2'), client.create('/s3')]);
    await client.create('/s4');
    const hs = cluster.state.headers;
    expect(hs.map((h) => h.sequence)).toEqual([1, 2, 3, 4]);
    expect(hs.slice(0, 3).every((h) => h.firstUnacked === 1)).toBe(true);
    expect(hs[3]!.firstUnacked).toBe(4);
  });
});

describe('cancellation and shutdown', () => {
  it.each(['stream', 'unary'] as const)(
    'an aborted signal rejects with CancelledError (%s)',
    async (transport) => {
      const { client } = await setup(1, transport);
      const ac = new AbortController();
      ac.abort();
      await expect(client.get('/', { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    },
  );

  it('aborting cancels a call stuck in failover', async () => {
    const { client, cluster } = await setup(1);
    cluster.members[0]!.faults.unavailable = true;
    const ac = new AbortController();
    const p = client.get('/', { signal: ac.signal, deadlineMs: 60_000 });
    await until(() => cluster.members[0]!.calls.length >= 2, 'a few failed attempts');
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(CancelledError);
  });

  it('close() ends every stream and channel', async () => {
    const { client, cluster } = await setup(2);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    await client.create('/h');
    await client.get('/h');
    const w = client.watch('/h');
    const s = await client.session({ timeoutMs: 3_000 });
    await until(() => cluster.members.reduce((n, m) => n + m.openStreams, 0) >= 3, 'streams open');
    await client.close();
    await until(() => cluster.members.every((m) => m.openStreams === 0), 'server saw every stream end');
    expect(s.state).toBe('closed');
    expect(await w.next()).toEqual({ value: undefined, done: true });
    await until(
      () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length <= before,
      'client sockets closed',
    );
    await expect(client.get('/h')).rejects.toBeInstanceOf(CancelledError);
  });
});
