/**
 * The client's watches share one WatchMany stream per member (src/client/watch-line.ts), against
 * a real in-process member: no Watch call is opened, each watch gets exactly its own events, a
 * refused watch fails alone, closing watches cancels them on the member, and closing the last
 * one ends the stream. (The fake-server tests in watch.test.ts cover the fallback: that server
 * has no WatchMany, so every watch there moves to a Watch call of its own.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArborClient, InvalidArgumentError, type WatchEvent, type Watcher } from '../../src/client/index.js';
import { until } from '../../src/bench/proc-cluster.js';
import { startInProcess, type InProcessMember } from '../api/in-process.js';

let m: InProcessMember;
let client: ArborClient;

beforeAll(async () => {
  m = await startInProcess([]);
  client = new ArborClient({ endpoints: [m.clientAddr] });
  await until(
    () =>
      client.create('/mux', '').then(
        () => true,
        () => false,
      ),
    20_000,
  );
}, 30_000);

afterAll(async () => {
  await client.close();
  await m.stop();
});

/** A gauge or counter of the member's /metrics, summed over series matching all `labels`. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://${m.httpAddr}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const streams = (method: string): Promise<number> =>
  metric('arbor_grpc_requests_in_flight', { method: `arbor.v1.Arbor/${method}` });

function collect(w: Watcher): { events: WatchEvent[]; error: Promise<unknown> } {
  const events: WatchEvent[] = [];
  const error = (async () => {
    for await (const e of w) events.push(e);
  })().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { events, error };
}

describe('client watches over WatchMany', () => {
  it('share one stream, deliver each watch its own events, and cancel on the member when closed', async () => {
    const N = 30;
    for (let i = 0; i < N; i++) await client.create(`/mux/k${i}`, '');
    const { revision } = await client.sync('/mux');
    const watchers = Array.from({ length: N }, (_, i) =>
      client.watch(`/mux/k${i}`, { startRevision: revision + 1 }),
    );
    const got = watchers.map(collect);
    await until(async () => (await metric('arbor_watches_active')) === N, 10_000);
    expect(await streams('WatchMany')).toBe(1);
    expect(await streams('Watch')).toBe(0);

    for (let i = 0; i < N; i++) await client.set(`/mux/k${i}`, `v${i}`);
    await until(() => got.every((g) => g.events.length === 1), 10_000);
    got.forEach((g, i) => {
      expect(g.events.map((e) => `${e.type} ${e.path} ${e.data.toString()}`)).toEqual([
        `updated /mux/k${i} v${i}`,
      ]);
    });

    // A watch the member refuses fails on its own; the stream and the other watches go on.
    const bad = collect(client.watch('/mux/bad//path'));
    expect(await bad.error).toBeInstanceOf(InvalidArgumentError);
    expect(await streams('WatchMany')).toBe(1);

    for (let i = 0; i < N / 2; i++) watchers[i]!.close();
    await until(async () => (await metric('arbor_watches_active')) === N / 2, 10_000);
    for (let i = 0; i < N; i++) await client.set(`/mux/k${i}`, `w${i}`);
    await until(() => got.slice(N / 2).every((g) => g.events.length === 2), 10_000);
    expect(got.slice(0, N / 2).every((g) => g.events.length === 1)).toBe(true);
    expect(await streams('WatchMany')).toBe(1);

    for (const w of watchers) w.close();
    await until(async () => (await streams('WatchMany')) === 0, 10_000);
    expect(await metric('arbor_watches_active')).toBe(0);
    // The next watch opens a new stream.
    const again = collect(client.watch('/mux/k0', { startRevision: 1 }));
    await until(() => again.events.length >= 3, 10_000);
    expect(again.events.map((e) => e.type)).toEqual(['created', 'updated', 'updated']);
    expect(await streams('WatchMany')).toBe(1);
  }, 60_000);

  it('a watch whose consumer lags leaves the shared stream and comes back without a gap; the others go on', async () => {
    await client.create('/lag', '');
    await client.create('/lag/a', '');
    await client.create('/lag/b', '');
    const { revision } = await client.sync('/lag');
    const before = await metric('arbor_watches_active');
    const lagging = client.watch('/lag/a', { startRevision: revision + 1 }); // not read yet
    const live = collect(client.watch('/lag/b', { startRevision: revision + 1 }));
    await until(async () => (await metric('arbor_watches_active')) === before + 2, 10_000);
    // 1,200 events for the lagging watch (past its 1,024-event high-water mark), 100 per multi.
    for (let i = 0; i < 12; i++) {
      await client.multi(
        Array.from({ length: 100 }, (_, k) => ({
          type: 'set' as const,
          path: '/lag/a',
          data: `${i * 100 + k}`,
        })),
      );
    }
    await until(async () => (await metric('arbor_watches_active')) === before + 1, 10_000); // parked
    await client.set('/lag/b', 'still here');
    await until(() => live.events.length === 1, 10_000);
    expect(await streams('WatchMany')).toBe(1);
    const seen: string[] = [];
    for await (const e of lagging) {
      seen.push(e.data.toString());
      if (seen.length === 1_200) break;
    }
    expect(seen).toEqual(Array.from({ length: 1_200 }, (_, i) => String(i)));
  }, 60_000);
});
