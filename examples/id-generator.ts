/** Cluster-unique, increasing names: two generators share one counter. */
import { IdGenerator } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
const a = new IdGenerator(client, `${RUN}/order-ids`, 'order-');
const b = new IdGenerator(client, `${RUN}/order-ids`, 'order-');
for (let i = 0; i < 3; i++) {
  say(`a: ${(await a.next()).name}`);
  say(`b: ${(await b.next()).name}`);
}

await client.delete(RUN, { recursive: true });
await client.close();
