/**
 * Leader election against a real three-member cluster: never two leaders at once (checked at
 * every hand-over), hand-over on session expiry, on close and across a Raft leader kill, and
 * an observer that follows the current leader.
 */
import { describe, expect, it } from 'vitest';
import { LeaderLatch, LeaderObserver, LeaderSelector, type Lease } from '../../src/client/recipes/index.js';
import { freshPath, until, useFixture } from './helpers.js';

const fx = useFixture();

describe('LeaderLatch', () => {
  it('a leader partitioned away with its member steps down before anyone else leads', async () => {
    const raftLeader = await fx.cluster.waitForLeader();
    const island = [1, 2, 3].find((i) => i !== raftLeader)!;
    // a talks only to `island`; freezing that member cuts a off together with it.
    const { client: aClient, session: aSession } = await fx.islandParticipant(island);
    const [b] = await fx.participants(1, 5_000); // a bystander: long enough to fail over off the frozen member
    const path = freshPath('election');
    const a = new LeaderLatch(aClient, aSession, path, 'a').start();
    await a.awaitLeadership({ timeoutMs: 20_000 });
    const bl = new LeaderLatch(b!.client, b!.session, path, 'b');
    let aStillLeading: boolean | undefined;
    bl.on('leader', () => {
      aStillLeading = a.isLeader;
    });
    bl.start();
    const proc = fx.cluster.member(island).proc!;
    proc.kill('SIGSTOP');
    try {
      await bl.awaitLeadership({ timeoutMs: 30_000 });
      // a's own session clock ran out before the leader expired it on the server.
      expect(aStillLeading).toBe(false);
      expect(a.isLeader).toBe(false);
    } finally {
      proc.kill('SIGCONT');
    }
    await a.close().catch(() => undefined);
    await bl.close();
  });

  it('has exactly one leader at a time through a Raft leader kill, a session expiry and a close', async () => {
    const ps = await fx.participants(3);
    const path = freshPath('election');
    const latches = ps.map((p, i) => new LeaderLatch(p.client, p.session, path, `node-${i}`));
    const violations: string[] = [];
    const tokens: number[] = [];
    for (const l of latches) {
      l.on('leader', (lease) => {
        const leaders = latches.filter((x) => x.isLeader).map((x) => x.id);
        if (leaders.length !== 1) violations.push(`${l.id} became leader while ${leaders.join(',')} lead`);
        tokens.push(lease.token);
      });
      l.start();
    }
    const observer = new LeaderObserver(fx.client(), path);
    const leaderId = (): string | undefined => latches.find((l) => l.isLeader)?.id;

    const first = await until(leaderId, 20_000, 'a first leader');
    expect((await observer.waitFor((l) => l?.id === first, { timeoutMs: 20_000 }))?.id).toBe(first);

    // A Raft leader kill does not cost the latch leader its session.
    const killed = await fx.killLeader();
    await fx.restart(killed);
    const afterKill = await until(leaderId, 20_000, 'a leader after the kill');

    // Session expiry: the old leader steps down at once (client side), a successor follows
    // once the server has expired the session.
    const old = latches.find((l) => l.id === afterKill)!;
    ps[latches.indexOf(old)]!.session.abandon();
    expect(old.isLeader).toBe(false);
    const successor = await until(
      () => (leaderId() !== undefined && leaderId() !== afterKill ? leaderId() : undefined),
      20_000,
      'a successor',
    );
    await observer.waitFor((l) => l?.id === successor, { timeoutMs: 20_000 });

    // Close: the node goes at once, the last candidate takes over.
    await latches.find((l) => l.id === successor)!.close();
    const last = await until(
      () => {
        const id = leaderId();
        return id !== undefined && id !== successor ? id : undefined;
      },
      20_000,
      'the last leader',
    );
    expect([afterKill, successor]).not.toContain(last);
    expect((await observer.waitFor((l) => l?.id === last, { timeoutMs: 20_000 }))?.token).toBe(
      latches.find((l) => l.id === last)!.lease!.token,
    );

    expect(violations).toEqual([]);
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    await observer.close();
    for (const l of latches) await l.close();
  });
});

describe('LeaderSelector', () => {
  it('runs one leadership callback at a time and steps down when the session is lost', async () => {
    const ps = await fx.participants(3);
    const path = freshPath('selector');
    const counter = freshPath('leader-writes');
    await ps[0]!.client.create(counter, '', { createParents: true });
    let active = 0;
    const tenures: { id: string; lease: Lease; stepDown: () => void }[] = [];
    const overlaps: string[] = [];
    const selectors = ps.map(
      (p, i) =>
        new LeaderSelector(p.client, p.session, path, `sel-${i}`, async (lease) => {
          if (active !== 0) overlaps.push(`sel-${i} started while ${active} active`);
          active++;
          try {
            await lease.set(counter, `sel-${i}`); // only the current leader can write
            await new Promise<void>((resolve) => {
              tenures.push({ id: `sel-${i}`, lease, stepDown: resolve });
              lease.signal.addEventListener('abort', () => resolve(), { once: true });
            });
          } finally {
            active--;
          }
        }),
    );
    for (const s of selectors) s.start();

    // 1. Voluntary step-down: the callback returns, the next candidate leads.
    await until(() => tenures[0], 20_000, 'a first leader');
    tenures[0]!.stepDown();
    const second = await until(() => tenures[1], 20_000, 'a second leader');
    expect(second.id).not.toBe(tenures[0]!.id);

    // 2. Session lost: the leader's lease signal aborts, its callback ends, another leads.
    const idx = Number(second.id.slice('sel-'.length));
    ps[idx]!.session.abandon();
    expect(second.lease.signal.aborted).toBe(true);
    const third = await until(() => tenures[2], 20_000, 'a third leader');
    expect(third.id).not.toBe(second.id);
    expect((await ps[0]!.client.get(counter)).data.toString()).toBe(third.id);

    // The stale leader's fenced write is refused.
    await expect(second.lease.set(counter, 'stale')).rejects.toMatchObject({ name: 'LockLostError' });
    expect(overlaps).toEqual([]);
    for (const s of selectors) await s.close();
  });
});
