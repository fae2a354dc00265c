import { afterEach, describe, expect, it } from 'vitest';
import { ArborClient, OutOfRangeError, type WatchEvent, type Watcher } from '../../src/client/index.js';
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

/** Collect events into an array in the background. */
function collect(w: Watcher): { events: WatchEvent[]; done: Promise<unknown> } {
  const events: WatchEvent[] = [];
  const done = (async () => {
    for await (const e of w) events.push(e);
  })().catch((e: unknown) => e);
  return { events, done };
}

const brief = (e: WatchEvent): string => `${e.type} ${e.path} @${e.revision}`;

describe('watch', () => {
  it('delivers node events in revision order', async () => {
    const { client, cluster } = await setup(1);
    const w = client.watch('/w');
    await until(() => cluster.members[0]!.watchRequests.length === 1, 'watch open');
    await until(() => w.lastRevision === cluster.state.revision, 'created');
    const { events } = collect(w);
    await client.create('/w', 'a');
    await client.set('/w', 'b');
    await client.create('/other');
    await client.delete('/w');
    await until(() => events.length === 3, 'three events');
    expect(events.map(brief)).toEqual(['created /w @1', 'updated /w @2', 'deleted /w @4']);
    expect(events[1]!.data.toString()).toBe('b');
    expect(w.lastRevision).toBe(4);
    w.close();
  });

  it('subtree scope sees descendants; startRevision replays history', async () => {
    const { client } = await setup(1);
    await client.create('/t', '');
    await client.create('/t/a', '');
    await client.create('/u', '');
    await client.create('/t/a/b', '');
    const w = client.watch('/t', { scope: 'subtree', startRevision: 2 });
    const { events } = collect(w);
    await until(() => events.length === 2, 'replayed');
    expect(events.map(brief)).toEqual(['created /t/a @2', 'created /t/a/b @4']);
    w.close();
  });

  it('resumes after broken streams from lastRevision + 1 on another member, with no gap or duplicate', async () => {
    const { client, cluster } = await setup(3);
    for (const m of cluster.members) m.faults.breakWatchAfter = 2;
    await client.create('/r', '');
    const w = client.watch('/r', { scope: 'children', startRevision: 2 });
    const { events } = collect(w);
    for (let i = 0; i < 10; i++) await client.create(`/r/c${i}`, '');
    await until(() => events.length === 10, 'all ten events');
    expect(events.map((e) => e.revision)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(w.resumeCount).toBeGreaterThanOrEqual(4);
    const requests = cluster.members.flatMap((m) => m.watchRequests.map((r) => Number(r.startRevision)));
    // Every resume asked for exactly the revision after the last one delivered.
    expect(requests.sort((a, b) => a - b).slice(0, 5)).toEqual([2, 4, 6, 8, 10]);
    expect(cluster.members.filter((m) => m.watchRequests.length > 0).length).toBeGreaterThan(1);
    w.close();
  });

  it('drops events replayed twice by the server (dedupe by revision and position)', async () => {
    const { client, cluster } = await setup(2);
    for (const m of cluster.members) {
      m.faults.breakWatchAfter = 3;
      m.faults.watchReplaySlack = 1;
    }
    await client.create('/d', '');
    const w = client.watch('/d', { scope: 'subtree', startRevision: 1 });
    const { events } = collect(w);
    // A multi makes two events at one revision.
    await client.multi([
      { type: 'create', path: '/d/x' },
      { type: 'create', path: '/d/y' },
    ]);
    for (let i = 0; i < 6; i++) await client.set('/d', String(i));
    await until(() => events.length === 9, 'nine events');
    const keys = events.map((e) => `${e.revision}${e.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(events.map((e) => e.revision)).toEqual([1, 2, 2, 3, 4, 5, 6, 7, 8]);
    w.close();
  });

  it('keeps two events of one revision on the same path (a multi that creates then sets)', async () => {
    const { client } = await setup(1);
    const w = client.watch('/m', { startRevision: 1 });
    const { events } = collect(w);
    await client.multi([
      { type: 'create', path: '/m', data: 'a' },
      { type: 'set', path: '/m', data: 'b' },
    ]);
    await until(() => events.length === 2, 'both events');
    expect(events.map(brief)).toEqual(['created /m @1', 'updated /m @1']);
    w.close();
  });

  it('progress notifications advance lastRevision, and a resume starts after them', async () => {
    const { client, cluster } = await setup(2);
    const w = client.watch('/quiet', { startRevision: 1 });
    await until(() => cluster.members.some((m) => m.watchRequests.length === 1), 'watch open');
    for (let i = 0; i < 5; i++) await client.create(`/noise${i}`);
    const holder = cluster.members.find((m) => m.watchRequests.length === 1)!;
    holder.sendProgress();
    await until(() => w.lastRevision === 5, 'progress seen');
    holder.stop();
    const other = cluster.members.find((m) => m !== holder)!;
    await until(() => other.watchRequests.length === 1, 'resumed on the other member');
    expect(other.watchRequests[0]!.startRevision).toBe('6');
    w.close();
  });

  it('ends with OutOfRangeError carrying compactRevision when history is gone', async () => {
    const { client, cluster } = await setup(1);
    cluster.state.compactRevision = 5;
    const w = client.watch('/', { startRevision: 2 });
    const err = await w.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfRangeError);
    expect((err as OutOfRangeError).compactRevision).toBe(5);
    expect(await w.next()).toEqual({ value: undefined, done: true });
  });

  it('an abort signal ends the iteration and the server stream', async () => {
    const { client, cluster } = await setup(1);
    const ac = new AbortController();
    const w = client.watch('/', { signal: ac.signal });
    const { done } = collect(w);
    await until(() => cluster.members[0]!.openStreams === 1, 'watch open');
    ac.abort();
    expect(await done).toBeUndefined();
    await until(() => cluster.members[0]!.openStreams === 0, 'server stream ended');
  });
});
