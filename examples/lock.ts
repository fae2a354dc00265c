/**
 * Mutual exclusion with fencing: three workers increment one counter under a Mutex. Each
 * write is guarded by the lock (lease.set), so it lands only while the writer still holds it.
 */
import { Mutex } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
const counter = `${RUN}/counter`;
await client.create(counter, '0', { createParents: true });

await Promise.all(
  ['alpha', 'beta', 'gamma'].map(async (worker) => {
    const session = await client.session({ timeoutMs: 5_000 });
    const mutex = new Mutex(client, session, `${RUN}/lock`, { data: worker });
    for (let i = 0; i < 3; i++) {
      const lease = await mutex.acquire({ timeoutMs: 30_000 });
      try {
        const n = Number((await client.get(counter)).data.toString());
        await lease.set(counter, String(n + 1)); // refused with LockLostError if the lock was lost
        say(`${worker} holds the lock (fencing token ${lease.token}), counter → ${n + 1}`);
      } finally {
        await lease.release();
      }
    }
    await session.close();
  }),
);

say(`final counter: ${(await client.get(counter)).data.toString()}`);
await client.delete(RUN, { recursive: true });
await client.close();
