/**
 * Members inside the test process (no build needed): `startServer` from the composition root,
 * configured through the same flag parser as `arbor server`, with a silent logger.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/main.js';
import { parseServerConfig } from '../../src/server/config.js';
import { freePort, until } from '../../src/bench/proc-cluster.js';
import { call, type Stub } from '../integration/harness.js';

export interface InProcessMember {
  readonly server: RunningServer;
  readonly clientAddr: string;
  readonly peerAddr: string;
  /** Its /metrics, /readyz listener. */
  readonly httpAddr: string;
  /** Stops the member and deletes its data directory. */
  stop(): Promise<void>;
}

/**
 * Member 1 of a cluster whose other founders are `others` (`id=host:port` entries that may never
 * start: with one of two founders missing, the member never has a leader).
 */
export async function startInProcess(
  flags: readonly string[],
  others: readonly string[] = [],
): Promise<InProcessMember> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-inproc-'));
  const clientAddr = `127.0.0.1:${await freePort()}`;
  const peerAddr = `127.0.0.1:${await freePort()}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  const cfg = parseServerConfig(
    [
      ...['--id', '1', '--client-addr', clientAddr, '--peer-addr', peerAddr],
      ...['--http-addr', httpAddr, '--data-dir', dir, '--tick-ms', '10'],
      ...['--initial-cluster', [`1=${peerAddr}`, ...others].join(',')],
      ...flags,
    ],
    {},
  );
  if (!cfg.ok) throw new Error(cfg.error);
  const server = await startServer(cfg.value, pino({ level: 'silent' }));
  return {
    server,
    clientAddr,
    peerAddr,
    httpAddr,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the one-member cluster behind `stub` has elected itself and serves writes. */
export async function waitServing(stub: Stub): Promise<void> {
  await until(
    () =>
      call(stub, 'Sync', { path: '/' }, 1000).then(
        () => true,
        () => false,
      ),
    20_000,
    'the one-member cluster to serve',
  );
}
