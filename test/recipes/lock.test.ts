/**
 * Locks against a real three-member cluster: mutual exclusion as the guarded znode sees it
 * (fencing tokens only increase, a stale holder's write is refused), under a leader kill, a
 * session expiry and a member kill; read/write and semaphore rules; no herd effect.
 */
import { describe, expect, it } from 'vitest';
import type { ArborClient } from '../../src/client/index.js';
import { exclusive, kindOf, type Plan } from '../../src/client/recipes/contend.js';
import { LockLostError, Mutex, ReadWriteLock, Semaphore } from '../../src/client/recipes/index.js';
import { readerPlan, semaphorePlan } from '../../src/client/recipes/lock.js';
import { freshPath, until, useFixture } from './helpers.js';

const fx = useFixture();

async function makeResource(client: ArborClient): Promise<string> {
  const path = freshPath('resource');
  await client.create(path, JSON.stringify({ token: 0, count: 0 }), { createParents: true });
  return path;
}

const name = (kind: string, seq: number): string => `_c_0f0e-${kind}-${String(seq).padStart(10, '0')}`;

describe('waiting plans: each waiter watches exactly one node (no herd effect)', () => {
  const dir = '/d';
  const wait = (n: string, scope: 'node' | 'children' = 'node'): Plan => ({
    type: 'wait',
    path: scope === 'node' ? `${dir}/${n}` : dir,
    scope,
  });
  const q = [name('write', 1), name('read', 2), name('read', 3), name('write', 4), name('read', 5)];

  it.each([
    ['mutex: the first holds', exclusive, 0, { type: 'acquired' }],
    ['mutex: others watch their predecessor', exclusive, 3, wait(q[2]!)],
    ['reader behind a writer watches that writer', readerPlan, 1, wait(q[0]!)],
    ['reader watches the LAST writer before it', readerPlan, 4, wait(q[3]!)],
    ['semaphore(2): index 1 holds', semaphorePlan(2), 1, { type: 'acquired' }],
    ['semaphore(2): the first waiter watches the directory', semaphorePlan(2), 2, wait('', 'children')],
    ['semaphore(2): later waiters watch their predecessor', semaphorePlan(2), 4, wait(q[3]!)],
  ] as const)('%s', (_what, plan, mine, expected) => {
    expect(plan(q, mine, dir)).toEqual(expected);
  });

  it('readers with no writer before them share the lock', () => {
    expect(readerPlan([name('read', 1), name('read', 2)], 1, dir)).toEqual({ type: 'acquired' });
    expect(kindOf(name('write', 7))).toBe('write');
  });
});

describe('Mutex', () => {
  it('admits one holder at a time and fences every write, across a leader kill', async () => {
    const ps = await fx.participants(4);
    const resource = await makeResource(ps[0]!.client);
    const lockPath = freshPath('mutex');
    const rounds = 5;
    let inside = 0;
    let maxInside = 0;
    const accepted: number[] = [];
    const worker = async (w: number): Promise<void> => {
      const p = ps[w]!;
      const m = new Mutex(p.client, p.session, lockPath, { data: `worker-${w}` });
      for (let i = 0; i < rounds; i++) {
        const lease = await m.acquire({ timeoutMs: 60_000 });
        inside++;
        maxInside = Math.max(maxInside, inside);
        try {
          const cur = await p.client.get(resource);
          const state = JSON.parse(cur.data.toString()) as { token: number; count: number };
          // The guarded znode only ever sees increasing tokens.
          expect(lease.token).toBeGreaterThan(state.token);
          await lease.set(resource, JSON.stringify({ token: lease.token, count: state.count + 1 }), {
            expectedVersion: cur.stat.version,
          });
          accepted.push(lease.token);
        } finally {
          inside--;
          await lease.release();
        }
      }
    };
    const all = Promise.all([0, 1, 2, 3].map(worker));
    await until(() => accepted.length >= 4 || undefined, 30_000, 'lock traffic');
    const killed = await fx.killLeader();
    await all;
    await fx.restart(killed);

    expect(maxInside).toBe(1);
    expect(accepted).toHaveLength(4 * rounds);
    expect([...accepted].sort((a, b) => a - b)).toEqual(accepted);
    const final = JSON.parse((await ps[0]!.client.get(resource)).data.toString()) as { count: number };
    expect(final.count).toBe(4 * rounds);
  });

  it('refuses the writes of a holder whose session expired; the next holder has a larger token', async () => {
    const [a, b] = await fx.participants(2);
    const resource = await makeResource(a!.client);
    const lockPath = freshPath('mutex');
    const la = await new Mutex(a!.client, a!.session, lockPath).acquire();
    const bWaits = new Mutex(b!.client, b!.session, lockPath).acquire({ timeoutMs: 30_000 });
    await la.set(resource, 'written by a');

    // Stop a's keep-alives without telling the server: the session expires on its timeout.
    a!.session.abandon();
    expect(la.signal.aborted).toBe(true);
    const lb = await bWaits;
    expect(lb.token).toBeGreaterThan(la.token);

    // a wakes up late and still believes it holds the lock: the server says no.
    await expect(la.set(resource, 'stale write by a')).rejects.toBeInstanceOf(LockLostError);
    await lb.set(resource, 'written by b');
    expect((await b!.client.get(resource)).data.toString()).toBe('written by b');
    await lb.release();
  });

  it('a holder partitioned away with its member loses the lock; its late write is refused', async () => {
    const leader = await fx.cluster.waitForLeader();
    const island = [1, 2, 3].find((i) => i !== leader)!;
    // a talks only to `island`; freezing that member cuts a off together with it.
    const { client: aClient, session: aSession } = await fx.islandParticipant(island);
    const [b] = await fx.participants(1, 5_000); // a bystander: long enough to fail over off the frozen member
    const resource = await makeResource(b!.client);
    const lockPath = freshPath('mutex');
    const la = await new Mutex(aClient, aSession, lockPath).acquire();
    const bWaits = new Mutex(b!.client, b!.session, lockPath).acquire({ timeoutMs: 30_000 });
    const proc = fx.cluster.member(island).proc!;
    proc.kill('SIGSTOP');
    try {
      // The leader hears nothing from a's session and expires it; b gets the lock.
      const lb = await bWaits;
      expect(lb.token).toBeGreaterThan(la.token);
      await lb.set(resource, 'written by b');
      await lb.release();
    } finally {
      proc.kill('SIGCONT');
    }
    // The partition heals; a still holds its stale lease object and tries to write.
    await expect(la.set(resource, 'stale write by a', { deadlineMs: 15_000 })).rejects.toBeInstanceOf(
      LockLostError,
    );
    expect((await b!.client.get(resource)).data.toString()).toBe('written by b');
  });

  it('hands the lock down the line while a member is killed', async () => {
    const ps = await fx.participants(3);
    const lockPath = freshPath('mutex');
    const order: string[] = [];
    const first = await new Mutex(ps[0]!.client, ps[0]!.session, lockPath).acquire();
    const waiters: Promise<void>[] = [];
    // Queue p1, then p2: the line is the order their nodes were created in, not the order the
    // calls were made (two clients may reach the leader by different paths).
    for (const w of [1, 2]) {
      waiters.push(
        (async (): Promise<void> => {
          const l = await new Mutex(ps[w]!.client, ps[w]!.session, lockPath).acquire({ timeoutMs: 30_000 });
          order.push(`p${w}`);
          await l.release();
        })(),
      );
      await until(
        async () => ((await ps[0]!.client.children(lockPath)).children.length === w + 1 ? true : undefined),
        10_000,
        `waiter p${w} queued`,
      );
    }
    const victim = fx.cluster.members.find((m) => m.proc)!.id;
    await fx.cluster.kill(victim);
    await fx.cluster.waitForLeader(30_000, [victim]);
    await first.release();
    await Promise.all(waiters);
    expect(order).toEqual(['p1', 'p2']);
    await fx.restart(victim);
  });

  it('tryAcquire does not wait; a timed-out acquire leaves no node behind', async () => {
    const [a, b] = await fx.participants(2);
    const lockPath = freshPath('mutex');
    const la = await new Mutex(a!.client, a!.session, lockPath).acquire();
    const mb = new Mutex(b!.client, b!.session, lockPath);
    expect(await mb.tryAcquire()).toBeUndefined();
    await expect(mb.acquire({ timeoutMs: 300 })).rejects.toMatchObject({ name: 'DeadlineError' });
    expect((await b!.client.children(lockPath)).children).toHaveLength(1);
    await la.release();
    const lb = await mb.tryAcquire();
    expect(lb?.isHeld).toBe(true);
    await lb?.release();
  });
});

describe('ReadWriteLock', () => {
  it('readers share; a writer waits for them; readers queued after a writer wait for it', async () => {
    const ps = await fx.participants(4);
    const lockPath = freshPath('rw');
    const rw = ps.map((p) => new ReadWriteLock(p.client, p.session, lockPath));
    const log: string[] = [];
    const r0 = await rw[0]!.readLock.acquire();
    const r1 = await rw[1]!.readLock.acquire(); // shared: acquired while r0 is held
    expect(r0.isHeld && r1.isHeld).toBe(true);
    const writer = rw[2]!.writeLock.acquire({ timeoutMs: 30_000 }).then((l) => {
      log.push('writer acquired');
      return l;
    });
    await until(
      async () => ((await ps[0]!.client.children(lockPath)).children.length === 3 ? true : undefined),
      10_000,
      'writer queued',
    );
    const lateReader = rw[3]!.readLock.acquire({ timeoutMs: 30_000 }).then((l) => {
      log.push('late reader acquired');
      return l;
    });
    await until(
      async () => ((await ps[0]!.client.children(lockPath)).children.length === 4 ? true : undefined),
      10_000,
      'late reader queued',
    );
    log.push('readers release');
    await r0.release();
    await r1.release();
    const w = await writer;
    log.push('writer releases');
    await w.release();
    const r3 = await lateReader;
    await r3.release();
    expect(log).toEqual(['readers release', 'writer acquired', 'writer releases', 'late reader acquired']);
  });
});

describe('Semaphore', () => {
  it('grants at most `permits` leases at once and wakes waiters as permits return', async () => {
    const ps = await fx.participants(5);
    const path = freshPath('sem');
    const sem = ps.map((p) => new Semaphore(p.client, p.session, path, 2));
    const s0 = await sem[0]!.acquire();
    const s1 = await sem[1]!.acquire();
    expect(await sem[2]!.tryAcquire()).toBeUndefined();

    let inside = 2;
    let maxInside = 2;
    const done: number[] = [];
    const waiters = [2, 3, 4].map(async (i) => {
      const l = await sem[i]!.acquire({ timeoutMs: 30_000 });
      inside++;
      maxInside = Math.max(maxInside, inside);
      done.push(i);
      inside--;
      await l.release();
    });
    await until(
      async () => ((await ps[0]!.client.children(path)).children.length === 5 ? true : undefined),
      10_000,
      'waiters queued',
    );
    inside--;
    await s0.release();
    inside--;
    await s1.release();
    await Promise.all(waiters);
    expect(maxInside).toBeLessThanOrEqual(2);
    expect(done.sort()).toEqual([2, 3, 4]);
  });
});
