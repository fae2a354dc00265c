/** A distributed queue: lower priority numbers first, FIFO within a priority. */
import { DistributedQueue } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
const queue = new DistributedQueue(client, `${RUN}/jobs`);
await queue.put('send newsletter', { priority: 5 });
await queue.put('page the on-call', { priority: 0 });
await queue.put('resize images', { priority: 5 });
await queue.put('charge card', { priority: 1 });

for (let i = 0; i < 4; i++) {
  const job = await queue.take({ timeoutMs: 10_000 });
  say(`took p${job.priority}: ${job.data.toString()}`);
}

await client.delete(RUN, { recursive: true });
await client.close();
