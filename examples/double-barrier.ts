/** A double barrier: three workers start a phase together and finish it together. */
import { DoubleBarrier } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
await Promise.all(
  ['w1', 'w2', 'w3'].map(async (id, i) => {
    const session = await client.session({ timeoutMs: 5_000 });
    const barrier = new DoubleBarrier(client, session, `${RUN}/phase-1`, 3, id);
    await barrier.enter({ timeoutMs: 30_000 });
    say(`${id} entered (everyone is here)`);
    await new Promise((r) => setTimeout(r, 50 * i)); // uneven work
    await barrier.leave({ timeoutMs: 30_000 });
    say(`${id} left (everyone is done)`);
    await session.close();
  }),
);

await client.delete(RUN, { recursive: true });
await client.close();
