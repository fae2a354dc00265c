/**
 * Leader election: three candidates join a LeaderLatch; an observer (no session needed) shows
 * who leads; the leader resigns and leadership passes on.
 */
import { LeaderLatch, LeaderObserver } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
const path = `${RUN}/election`;
const observer = new LeaderObserver(client, path);
observer.on('change', (leader) => say(`observer: leader is ${leader?.id ?? '(none)'}`));

const latches = await Promise.all(
  ['node-a', 'node-b', 'node-c'].map(async (id) => {
    const latch = new LeaderLatch(client, await client.session({ timeoutMs: 5_000 }), path, id);
    latch.on('leader', (lease) => say(`${id}: I am the leader (token ${lease.token})`));
    return latch.start();
  }),
);

const first = await observer.waitFor((l) => l !== undefined, { timeoutMs: 10_000 });
say(`${first?.id} resigns`);
await latches.find((l) => l.id === first?.id)?.close();
const next = await observer.waitFor((l) => l !== undefined && l.id !== first?.id, { timeoutMs: 10_000 });
say(`new leader: ${next?.id}`);

for (const l of latches) await l.close();
await observer.close();
await client.delete(RUN, { recursive: true });
await client.close();
