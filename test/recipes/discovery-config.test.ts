/**
 * Service discovery and the config watcher against a real three-member cluster: the cache
 * converges on the live set within a session timeout of an instance's death, also while a
 * member is down; the config value follows every write in order, across a leader kill, and
 * never goes back in time.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigWatcher,
  ServiceDiscovery,
  register,
  updateConfig,
  type ServiceInstance,
} from '../../src/client/recipes/index.js';
import { SESSION_TIMEOUT_MS, freshPath, useFixture } from './helpers.js';

const fx = useFixture();

const ids = (list: ServiceInstance<unknown>[]): string[] => list.map((i) => i.id);

describe('service registry and discovery', () => {
  it('sees registrations, updates and unregistrations; picks round-robin or at random', async () => {
    const ps = await fx.participants(3);
    const base = freshPath('services');
    const discovery = new ServiceDiscovery<{ zone: string }>(fx.client(), base, 'api');
    await discovery.ready();
    const regs = await Promise.all(
      ps.map((p, i) =>
        register(p.client, p.session, base, 'api', {
          id: `api-${i}`,
          address: `10.0.0.${i}:80`,
          metadata: { zone: 'a' },
        }),
      ),
    );
    await discovery.waitFor((l) => l.length === 3, { timeoutMs: 10_000 });
    expect(ids(discovery.instances())).toEqual(['api-0', 'api-1', 'api-2']);
    expect([1, 2, 3, 4, 5, 6].map(() => discovery.pick()?.id)).toEqual([
      'api-0',
      'api-1',
      'api-2',
      'api-0',
      'api-1',
      'api-2',
    ]);
    for (let i = 0; i < 20; i++) expect(ids(discovery.instances())).toContain(discovery.pick('random')?.id);

    await regs[1]!.update({ zone: 'b' });
    await discovery.waitFor((l) => l.find((x) => x.id === 'api-1')?.metadata.zone === 'b', {
      timeoutMs: 10_000,
    });
    await regs[2]!.unregister();
    await discovery.waitFor((l) => l.length === 2, { timeoutMs: 10_000 });
    await discovery.close();
  });

  it('drops a dead instance within a session timeout, while a member is down', async () => {
    const ps = await fx.participants(3);
    const base = freshPath('services');
    const discovery = new ServiceDiscovery(fx.client(), base, 'db');
    await Promise.all(
      ps.map((p, i) => register(p.client, p.session, base, 'db', { id: `db-${i}`, address: `db${i}:5432` })),
    );
    await discovery.waitFor((l) => l.length === 3, { timeoutMs: 10_000 });

    const victim = fx.cluster.members.find((m) => m.proc)!.id;
    await fx.cluster.kill(victim);
    // The instance "crashes": keep-alives stop, the server expires its session.
    const died = performance.now();
    ps[0]!.session.abandon();
    await discovery.waitFor((l) => !ids(l).includes('db-0'), { timeoutMs: 20_000 });
    const tookMs = performance.now() - died;
    console.log(`discovery dropped the dead instance after ${Math.round(tookMs)} ms`);
    expect(ids(discovery.instances())).toEqual(['db-1', 'db-2']);
    // Session timeout, plus one leader election if the victim led (a new leader grants every
    // session a fresh timeout), plus slack for the 2-core CI machine.
    expect(tookMs).toBeLessThan(2 * SESSION_TIMEOUT_MS + 5_000);

    // A newcomer registered while the member is down is seen too.
    const late = await fx.participant();
    await register(late.client, late.session, base, 'db', { id: 'db-3', address: 'db3:5432' });
    await discovery.waitFor((l) => l.length === 3, { timeoutMs: 10_000 });
    await fx.restart(victim);
    await discovery.close();
  });
});

describe('ServiceDiscovery under a partition', () => {
  it('drops an instance partitioned away with its member; the others stay', async () => {
    const raftLeader = await fx.cluster.waitForLeader();
    const island = [1, 2, 3].find((i) => i !== raftLeader)!;
    const { client: cut, session: cutSession } = await fx.islandParticipant(island);
    const [p] = await fx.participants(1, 5_000); // a bystander: long enough to fail over off the frozen member
    const base = freshPath('services');
    const discovery = new ServiceDiscovery(fx.client(), base, 'web');
    await register(cut, cutSession, base, 'web', { id: 'web-cut', address: 'web0:80' });
    await register(p!.client, p!.session, base, 'web', { id: 'web-ok', address: 'web1:80' });
    await discovery.waitFor((l) => l.length === 2, { timeoutMs: 10_000 });
    const proc = fx.cluster.member(island).proc!;
    proc.kill('SIGSTOP');
    try {
      await discovery.waitFor((l) => !ids(l).includes('web-cut'), { timeoutMs: 30_000 });
      expect(ids(discovery.instances())).toEqual(['web-ok']);
    } finally {
      proc.kill('SIGCONT');
    }
    await discovery.close();
  });
});

describe('ConfigWatcher', () => {
  it('follows every write in order across a leader kill and never goes back in time', async () => {
    const writer = fx.client();
    const path = freshPath('config');
    const watchers = [0, 1, 2].map(
      () => new ConfigWatcher<{ n: number }>(fx.client(), path, { defaultValue: { n: 0 } }),
    );
    const seen = watchers.map(() => [] as { n: number; revision: number }[]);
    watchers.forEach((w, i) => w.on('change', (v, revision) => seen[i]!.push({ n: v?.n ?? 0, revision })));
    await Promise.all(watchers.map((w) => w.ready()));
    expect(watchers[0]!.value).toEqual({ n: 0 });

    const total = 40;
    let killed = 0;
    for (let n = 1; n <= total; n++) {
      await updateConfig<{ n: number }>(writer, path, () => ({ n }));
      if (n === 15) killed = await fx.killLeader();
      if (n === 30) await fx.restart(killed);
    }
    for (const w of watchers) await w.waitFor((v) => v?.n === total, { timeoutMs: 20_000 });

    for (const s of seen) {
      const revisions = s.map((x) => x.revision);
      const values = s.map((x) => x.n);
      expect(new Set(revisions).size).toBe(revisions.length);
      expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);
      expect([...values].sort((a, b) => a - b)).toEqual(values);
      // Every write is a change event: nothing skipped while the stream moved members.
      expect(values.filter((v) => v > 0)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }

    await writer.delete(path);
    await watchers[0]!.waitFor((v) => v?.n === 0, { timeoutMs: 10_000 });
    for (const w of watchers) await w.close();
  });
});
