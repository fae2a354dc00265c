/**
 * Node lifecycles swept by the leader (TTL nodes, containers), the standard gRPC health and
 * reflection services, and a graceful SIGTERM that hands leadership over.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, until, watchStream, type Msg, type Stub } from './harness.js';

const require = createRequire(import.meta.url);
const HEALTH_PROTO = path.join(
  path.dirname(require.resolve('grpc-health-check/package.json')),
  'proto/health/v1/health.proto',
);
const REFLECTION_PROTO = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

let cluster: TestCluster;
let leader: number;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3, extraArgs: ['--watch-progress-ms', '300'] });
  leader = await cluster.waitForLeader();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('nodes the leader sweeps', () => {
  it('a TTL node unmodified for its ttl is deleted; modifying it postpones that', async () => {
    const F = cluster.arbor([1, 2, 3].find((i) => i !== leader)!);
    const created = Date.now();
    await call(F, 'Create', { path: '/ttl', mode: 5, ttl_ms: 1500 });
    // Touch it once after ~700 ms: the clock restarts from the modification.
    await until(() => (Date.now() - created >= 700 ? true : undefined), 5000, 'time to pass');
    await call(F, 'Set', { path: '/ttl', data: Buffer.from('touch'), expected_version: -1 });
    const touched = Date.now();
    await until(
      async () => ((await call(F, 'Exists', { path: '/ttl' })).exists ? undefined : true),
      20_000,
      'TTL sweep',
    );
    // Deleted no earlier than ttl after the last modification.
    expect(Date.now() - touched).toBeGreaterThanOrEqual(1500);
  });

  it('a container is deleted once its last child goes, not before it had one', async () => {
    const L = cluster.arbor(leader);
    await call(L, 'Create', { path: '/box', mode: 4 });
    await call(L, 'Create', { path: '/box/item' });
    // Still there with a child.
    expect((await call(L, 'Exists', { path: '/box' })).exists).toBe(true);
    await call(L, 'Delete', { path: '/box/item', expected_version: -1 });
    await until(
      async () => ((await call(L, 'Exists', { path: '/box' })).exists ? undefined : true),
      20_000,
      'container sweep',
    );
    await call(L, 'Create', { path: '/fresh-box', mode: 4 });
    await call(L, 'Sync', {});
    // A container that never had a child stays (ZooKeeper's rule).
    await new Promise((r) => setTimeout(r, 1500));
    expect((await call(L, 'Exists', { path: '/fresh-box' })).exists).toBe(true);
  });
});

describe('idle watch streams', () => {
  it('get periodic progress responses carrying the current revision', async () => {
    const F = cluster.arbor([1, 2, 3].find((i) => i !== leader)!);
    await call(F, 'Create', { path: '/quiet' });
    const w = watchStream(F, { path: '/quiet', scope: 2 });
    const first = await until(() => w.responses.find((r) => r.progress), 10_000, 'a progress response');
    // Writes elsewhere move the revision a progress response reports, without events here.
    await call(cluster.arbor(leader), 'Create', { path: '/elsewhere' });
    const rev = Number((await call(F, 'Sync', {})).revision);
    const later = await until(
      () => w.responses.find((r) => r.progress && Number(r.revision) >= rev),
      10_000,
      'a later progress response',
    );
    expect(Number(later.revision)).toBeGreaterThan(Number(first.revision));
    expect(w.responses.flatMap((r) => r.events ?? [])).toEqual([]);
    w.cancel();
  });
});

describe('standard gRPC services', () => {
  it('grpc.health.v1 reports SERVING for the Arbor service', async () => {
    const pd = protoLoader.loadSync(HEALTH_PROTO, { keepCase: true, enums: String });
    const pkg = grpc.loadPackageDefinition(pd) as any;
    const health = new pkg.grpc.health.v1.Health(
      cluster.member(leader).clientAddr,
      grpc.credentials.createInsecure(),
    ) as Stub;
    const r = await call(health, 'Check', { service: 'arbor.v1.Arbor' });
    expect(r.status).toBe('SERVING');
    health.close();
  });

  it('server reflection lists the Arbor and Cluster services', async () => {
    const pd = protoLoader.loadSync(REFLECTION_PROTO, { keepCase: true });
    const pkg = grpc.loadPackageDefinition(pd) as any;
    const refl = new pkg.grpc.reflection.v1.ServerReflection(
      cluster.member(leader).clientAddr,
      grpc.credentials.createInsecure(),
    );
    const stream = refl.ServerReflectionInfo();
    const answer = await new Promise<Msg>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    const names = (answer.list_services_response.service as Msg[]).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['arbor.v1.Arbor', 'arbor.v1.Cluster']));
    refl.close();
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM on the leader hands leadership over and exits 0; the cluster keeps serving', async () => {
    const old = await cluster.waitForLeader();
    const code = await cluster.terminate(old);
    expect(code).toBe(0);
    const next = await cluster.waitForLeader(10_000, [old]);
    expect(next).not.toBe(old);
    await call(cluster.arbor(next), 'Create', { path: '/after-sigterm' });
    cluster.restart(old);
    await cluster.waitForLeader();
    expect((await call(cluster.arbor(old), 'Exists', { path: '/after-sigterm' })).exists).toBe(true);
  });
});

describe('sessions across a leader change', () => {
  it('a kept-alive session survives the leader dying; once keep-alives stop, the new leader expires it', async () => {
    const old = await cluster.waitForLeader();
    const via = [1, 2, 3].find((i) => i !== old)!;
    const F = cluster.arbor(via);
    const s = await call(F, 'OpenSession', { timeout_ms: 2000 });
    const id = s.session_id as string;
    const eph = await call(F, 'Create', { path: '/lc-eph-', mode: 3, session_id: id });
    const ka = (F.KeepAlive as () => any).call(F);
    const ttls: number[] = [];
    ka.on('data', (r: Msg) => ttls.push(Number(r.ttl_ms)));
    ka.on('error', () => undefined);
    const timer = setInterval(() => ka.write({ session_id: id }), 300);
    try {
      await cluster.kill(old);
      const next = await cluster.waitForLeader(20_000, [old]);
      // Well past the session timeout under the new leader, the session and its node are alive.
      const since = Date.now();
      await until(() => (Date.now() - since > 4000 ? true : undefined), 10_000, 'time under the new leader');
      expect((await call(cluster.arbor(next), 'Exists', { path: eph.path })).exists).toBe(true);
      expect(ttls.filter((t) => t === 0)).toEqual([]);
    } finally {
      clearInterval(timer);
      ka.end();
    }
    await until(
      async () => ((await call(F, 'Exists', { path: eph.path })).exists ? undefined : true),
      20_000,
      'expiry after keep-alives stop',
    );
    cluster.restart(old);
    await cluster.waitForLeader();
  });
});
