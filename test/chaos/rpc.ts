/**
 * Raw gRPC stubs for the chaos harness, generated from the proto at run time like any other
 * language's client. Calls carry an explicit deadline and no waitForReady, so an unreachable
 * member answers UNAVAILABLE at once and every outcome in the history is exact.
 *
 * (test/integration/harness.ts resolves the repository from its own location and loads the proto
 * on import, which breaks once compiled into dist-test/ for the soak; this module finds the
 * repository root by walking up to package.json, so it works from both places.)
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'arbor')
      return dir;
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error('cannot find the arbor repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const ROOT = findRoot();
export const SERVER_JS = path.join(ROOT, 'dist/cli/server.js');

const pd = protoLoader.loadSync('arbor/v1/arbor.proto', {
  includeDirs: [path.join(ROOT, 'proto')],
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(pd) as unknown as {
  arbor: { v1: { Arbor: grpc.ServiceClientConstructor; Cluster: grpc.ServiceClientConstructor } };
};

export type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
export type Msg = Record<string, any>;

export interface GrpcError extends Error {
  code: number;
  details: string;
  metadata: grpc.Metadata | undefined;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // Reconnect quickly after a member comes back; the default backoff grows to minutes.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 2000,
  'grpc.keepalive_timeout_ms': 2000,
};

export function arborStub(addr: string): Stub {
  return new pkg.arbor.v1.Arbor(addr, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Stub;
}

export function clusterStub(addr: string): Stub {
  return new pkg.arbor.v1.Cluster(
    addr,
    grpc.credentials.createInsecure(),
    CHANNEL_OPTIONS,
  ) as unknown as Stub;
}

export function call(stub: Stub, method: string, req: Msg, timeoutMs: number): Promise<Msg> {
  return new Promise((resolve, reject) => {
    (stub[method] as (r: Msg, o: grpc.CallOptions, cb: (e: GrpcError | null, r: Msg) => void) => void).call(
      stub,
      req,
      { deadline: Date.now() + timeoutMs },
      (e, r) => (e ? reject(e) : resolve(r)),
    );
  });
}

export { sleep, until } from '../../src/bench/proc-cluster.js';

export const code = (e: unknown): number => (e as GrpcError).code ?? -1;
export const arborError = (e: unknown): string =>
  String((e as GrpcError).metadata?.get('arbor-error')?.[0] ?? '');
