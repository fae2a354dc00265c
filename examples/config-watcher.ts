/**
 * A typed config value that is always current: the watcher follows every change from the
 * revision it read, resumes after reconnects, and never goes back in time.
 */
import { ConfigWatcher, updateConfig } from '../src/client/recipes/index.js';
import { RUN, connect, say } from './common.js';

interface Limits {
  readonly maxConnections: number;
}

const client = connect();
const path = `${RUN}/config/limits`;
const limits = new ConfigWatcher<Limits>(client, path, { defaultValue: { maxConnections: 10 } });
limits.on('change', (v, revision) => say(`maxConnections = ${v?.maxConnections} (revision ${revision})`));
await limits.ready();
say(`initial: ${limits.value?.maxConnections}`);

for (const maxConnections of [20, 50, 100])
  await updateConfig<Limits>(client, path, () => ({ maxConnections }));
await limits.waitFor((v) => v?.maxConnections === 100, { timeoutMs: 10_000 });
say(`current: ${limits.value?.maxConnections}`);

await limits.close();
await client.delete(RUN, { recursive: true });
await client.close();
