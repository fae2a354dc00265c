/**
 * Sequential names, the priority queue and barriers against a real three-member cluster:
 * names are unique and increase per caller across a leader kill; the queue serves by priority
 * then FIFO and hands each item to exactly one consumer; barriers release together.
 */
import { describe, expect, it } from 'vitest';
import { Barrier, DistributedQueue, DoubleBarrier, IdGenerator } from '../../src/client/recipes/index.js';
import { freshPath, until, useFixture } from './helpers.js';

const fx = useFixture();

describe('IdGenerator', () => {
  it('hands out cluster-unique names, increasing per caller, across a leader kill', async () => {
    const path = freshPath('ids');
    const gens = [0, 1, 2, 3].map(() => new IdGenerator(fx.client(), path, 'job-'));
    const got: number[][] = gens.map(() => []);
    let count = 0;
    const run = Promise.all(
      gens.map(async (g, i) => {
        for (let k = 0; k < 25; k++) {
          const { id, name } = await g.next();
          expect(name).toBe(`job-${String(id).padStart(10, '0')}`);
          got[i]!.push(id);
          count++;
        }
      }),
    );
    await until(() => count >= 20 || undefined, 20_000, 'ids flowing');
    const killed = await fx.killLeader();
    await run;
    await fx.restart(killed);
    const all = got.flat();
    expect(new Set(all).size).toBe(100);
    for (const mine of got) expect([...mine].sort((a, b) => a - b)).toEqual(mine);
  });
});

describe('DistributedQueue', () => {
  it('serves by priority, FIFO within a priority', async () => {
    const q = new DistributedQueue(fx.client(), freshPath('queue'));
    const puts: [string, number][] = [
      ['low-1', 5],
      ['urgent-1', 0],
      ['mid-1', 2],
      ['low-2', 5],
      ['urgent-2', 0],
      ['mid-2', 2],
    ];
    for (const [data, priority] of puts) await q.put(data, { priority });
    const out: string[] = [];
    for (let i = 0; i < puts.length; i++) out.push((await q.take({ timeoutMs: 10_000 })).data.toString());
    expect(out).toEqual(['urgent-1', 'urgent-2', 'mid-1', 'mid-2', 'low-1', 'low-2']);
    expect(await q.poll()).toBeUndefined();
  });

  it('gives each item to exactly one of several blocked consumers, in FIFO order per consumer', async () => {
    const path = freshPath('queue');
    const producer = new DistributedQueue(fx.client(), path);
    const consumers = [0, 1, 2].map(() => new DistributedQueue(fx.client(), path));
    const total = 30;
    const taken: number[][] = consumers.map(() => []);
    let remaining = total;
    const consuming = consumers.map(async (c, i) => {
      while (remaining > 0) {
        const ac = new AbortController();
        const stop = setInterval(() => remaining <= 0 && ac.abort(), 50);
        try {
          const item = await c.take({ signal: ac.signal });
          remaining--;
          taken[i]!.push(Number(item.data.toString()));
        } catch (e) {
          if (!ac.signal.aborted) throw e;
        } finally {
          clearInterval(stop);
        }
      }
    });
    for (let n = 0; n < total; n++) await producer.put(String(n));
    await Promise.all(consuming);
    const all = taken.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: total }, (_, i) => i));
    for (const mine of taken) expect([...mine].sort((a, b) => a - b)).toEqual(mine);
  });
});

describe('barriers', () => {
  it('Barrier: waiters are released when it is lowered', async () => {
    const path = freshPath('gate');
    const b = new Barrier(fx.client(), path);
    await b.raise();
    let lowered = false;
    const released: boolean[] = [];
    const waiters = [0, 1, 2].map(async () => {
      await new Barrier(fx.client(), path).wait({ timeoutMs: 20_000 });
      released.push(lowered);
    });
    lowered = true;
    await b.lower();
    await Promise.all(waiters);
    expect(released).toEqual([true, true, true]);
    await new Barrier(fx.client(), path).wait({ timeoutMs: 1_000 }); // already down
  });

  it('DoubleBarrier: nobody enters before all arrive, nobody leaves before all leave, through a member kill', async () => {
    const n = 4;
    const ps = await fx.participants(n);
    const path = freshPath('double');
    let arrived = 0;
    let leaving = 0;
    const seenOnEnter: number[] = [];
    const seenOnLeave: number[] = [];
    const victim = fx.cluster.members.find((m) => m.proc)!.id;
    const run = ps.map(async (p, i) => {
      const db = new DoubleBarrier(p.client, p.session, path, n, `p${i}`);
      if (i === n - 1) {
        // The last participant arrives only after the others are waiting and a member died.
        await until(
          async () =>
            (await p.client.children(path).catch(() => undefined))?.children.length === n - 1 || undefined,
        );
        await fx.cluster.kill(victim);
      }
      arrived++;
      await db.enter({ timeoutMs: 30_000 });
      seenOnEnter.push(arrived);
      if (i === 0) await until(() => seenOnEnter.length === n || undefined); // p0 leaves last
      leaving++;
      await db.leave({ timeoutMs: 30_000 });
      seenOnLeave.push(leaving);
    });
    await Promise.all(run);
    await fx.restart(victim);
    expect(seenOnEnter).toEqual([n, n, n, n]);
    expect(seenOnLeave).toEqual([n, n, n, n]);
    expect((await ps[0]!.client.children(path)).children).toEqual([]);
  });
});
