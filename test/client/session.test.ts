import { afterEach, describe, expect, it } from 'vitest';
import { ArborClient, NoNodeError, type SessionState } from '../../src/client/index.js';
import { startFakeCluster, until } from './fake-server.js';

type Cluster = Awaited<ReturnType<typeof startFakeCluster>>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(n: number): Promise<{ cluster: Cluster; client: ArborClient }> {
  const cluster = await startFakeCluster(n);
  const client = new ArborClient({ endpoints: cluster.endpoints, backoff: { baseMs: 5, maxMs: 20 } });
  cleanup.push(
    () => cluster.stop(),
    () => client.close(),
  );
  return { cluster, client };
}

describe('sessions', () => {
  it('opens, owns ephemerals, and close() removes them', async () => {
    const { client, cluster } = await setup(1);
    const s = await client.session({ timeoutMs: 3_000 });
    expect(typeof s.id).toBe('bigint');
    expect(s.state).toBe('connected');
    const eph = await client.create('/lock-', 'me', { mode: 'ephemeral-sequential', sessionId: s.id });
    expect(eph.path).toBe('/lock-0000000000');
    expect(eph.stat.ephemeralOwner).toBe(s.id);
    await s.close();
    expect(s.state).toBe('closed');
    expect((await client.exists(eph.path)).exists).toBe(false);
    expect(cluster.state.sessions.size).toBe(0);
    // Open and close went through the exactly-once envelope.
    expect(cluster.state.headers.map((h) => h.op)).toEqual(['openSession', 'create', 'closeSession']);
  });

  it('keeps itself alive: keep-alives flow every timeout/3 and it stays connected', async () => {
    const { client, cluster } = await setup(1);
    const s = await client.session({ timeoutMs: 450 });
    const states: SessionState[] = [];
    s.on('state', (to) => states.push(to));
    // Seven answered keep-alives span two session timeouts.
    await until(() => cluster.members[0]!.keepAlives >= 7, 'seven keep-alives');
    expect(s.state).toBe('connected');
    expect(states).toEqual([]);
    expect(cluster.state.sessions.size).toBe(1);
    await s.close();
  });

  it('goes connected → suspended → lost when keep-alives stop being answered', async () => {
    const { client, cluster } = await setup(1);
    const s = await client.session({ timeoutMs: 300 });
    const states: SessionState[] = [];
    s.on('state', (to) => states.push(to));
    const lost = new Promise((resolve) => s.once('lost', resolve));
    cluster.members[0]!.faults.silentKeepAlives = true;
    await until(() => s.state === 'lost', 'session lost');
    expect(states).toEqual(['suspended', 'lost']);
    expect(await lost).toBeInstanceOf(Error);
  });

  it('recovers from suspended to connected by failing over to another member', async () => {
    const { client, cluster } = await setup(2);
    // Long enough that a loaded machine cannot push the session past "suspended" into "lost".
    const s = await client.session({ timeoutMs: 3000 });
    const states: SessionState[] = [];
    s.on('state', (to) => states.push(to));
    for (const m of cluster.members) m.faults.silentKeepAlives = true;
    await until(() => s.state === 'suspended', 'suspended');
    // Two more keep-alives dropped after suspension: at the regular pace (one per timeout/3) the
    // next one would come after the session is given up; a suspended session retries faster.
    const dropped = (): number => cluster.members.reduce((n, m) => n + m.droppedKeepAlives, 0);
    const atSuspend = dropped();
    await until(() => dropped() >= atSuspend + 2, 'two keep-alives dropped after suspension');
    for (const m of cluster.members) m.faults.silentKeepAlives = false;
    await until(() => s.state === 'connected', 'connected again');
    expect(states).toEqual(['suspended', 'connected']);
    await s.close();
  });

  it('survives a member crash by keeping alive through another member', async () => {
    const { client, cluster } = await setup(2);
    const s = await client.session({ timeoutMs: 600 });
    const opened = (): number => cluster.members.reduce((n, m) => n + m.openStreams, 0);
    await until(() => opened() === 1, 'keep-alive stream open');
    const holder = cluster.members.find((m) => m.openStreams === 1)!;
    holder.faults.unavailable = true;
    holder.stop();
    await until(() => s.state === 'suspended' || opened() === 1, 'noticed the crash');
    const other = cluster.members.find((m) => m !== holder)!;
    await until(() => other.openStreams === 1 && s.state === 'connected', 'connected via the other member');
    await s.close();
  });

  it('is lost at once when the server says the session expired', async () => {
    const { client, cluster } = await setup(1);
    const s = await client.session({ timeoutMs: 300 });
    const lost = new Promise((resolve) => s.once('lost', resolve));
    cluster.members[0]!.faults.expireSessions = true;
    expect(await lost).toBeInstanceOf(NoNodeError);
    expect(s.state).toBe('lost');
    await s.close(); // closing a lost session is a no-op, not an error
    expect(s.state).toBe('closed');
  });
});
