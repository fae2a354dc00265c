/**
 * Service discovery: three API instances register (ephemeral, tied to their sessions); a
 * client-side cache picks among them round-robin and notices when one goes away.
 */
import { ServiceDiscovery, register } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

const client = connect();
const base = `${RUN}/services`;
const registrations = await Promise.all(
  [8081, 8082, 8083].map(async (port) =>
    register(client, await client.session({ timeoutMs: 5_000 }), base, 'api', {
      id: `api-${port}`,
      address: `127.0.0.1:${port}`,
      metadata: { version: '1.4.2' },
    }),
  ),
);

const discovery = new ServiceDiscovery<{ version: string }>(client, base, 'api');
await discovery.waitFor((list) => list.length === 3, { timeoutMs: 10_000 });
for (let i = 0; i < 4; i++) say(`request ${i} → ${discovery.pick('round-robin')?.address}`);

await registrations[0]?.unregister();
const live = await discovery.waitFor((list) => list.length === 2, { timeoutMs: 10_000 });
say(`after one instance left: ${live.map((s) => s.address).join(', ')}`);

await discovery.close();
await client.delete(RUN, { recursive: true });
await client.close();
