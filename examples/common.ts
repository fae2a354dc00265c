/** Shared by the examples: where the cluster is (ARBOR_ENDPOINTS=host:port,… or the local default). */
import { ArborClient, DEFAULT_ENDPOINTS } from '../src/client/index.js';

export function connect(): ArborClient {
  const env = process.env['ARBOR_ENDPOINTS'];
  const endpoints = env ? env.split(',') : [...DEFAULT_ENDPOINTS];
  return new ArborClient({ endpoints });
}

/** A per-run directory, so examples can run again and again against one cluster. */
export const RUN = `/examples/${process.pid}-${Date.now()}`;

/** Print a line (the examples' only output). */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
