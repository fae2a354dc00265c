/**
 * The client-facing gRPC server of a member: arbor.v1.Arbor, arbor.v1.Cluster, the standard
 * health service and server reflection (so grpcurl-style tools and any language can discover
 * the API).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { ApiContext } from './arbor-service.js';
import { Operations, arborHandlers } from './arbor-service.js';
import { clusterHandlers } from './cluster-service.js';
import { authHandlers } from './auth-service.js';
import { loadArborProto } from './proto.js';

export interface ClientServer {
  readonly port: number;
  readonly health: HealthImplementation;
  stop(graceMs: number): Promise<void>;
}

export async function startClientServer(
  ctx: ApiContext,
  addr: string,
  opts: {
    maxMessageBytes: number;
    /** HTTP/2 streams (calls) per connection; a backstop behind the per-connection budgets. */
    maxConcurrentStreams?: number;
    credentials?: grpc.ServerCredentials;
    interceptors?: grpc.ServerInterceptor[];
  },
): Promise<ClientServer> {
  const proto = loadArborProto();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': opts.maxMessageBytes,
    ...(opts.maxConcurrentStreams !== undefined
      ? { 'grpc.max_concurrent_streams': opts.maxConcurrentStreams }
      : {}),
    'grpc.keepalive_permit_without_calls': 1,
    // Clients ping idle connections every 5 s to notice a frozen member; allow that with margin.
    'grpc.http2.min_ping_interval_without_data_ms': 2000,
    ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
  });
  const ops = new Operations(ctx);
  const auth = authHandlers(ctx, ops);
  server.addService(proto.arbor, { ...arborHandlers(ctx, proto.watchEncoder), ...auth.acl });
  server.addService(proto.cluster, clusterHandlers(ctx.member, ops, ctx.logger, ctx.auth));
  server.addService(proto.auth, auth.auth);
  const health = new HealthImplementation({
    '': 'SERVING',
    'arbor.v1.Arbor': 'SERVING',
    'arbor.v1.Cluster': 'SERVING',
    'arbor.v1.Auth': 'SERVING',
  });
  health.addToServer(server);
  new ReflectionService(proto.packageDefinition).addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  return {
    port,
    health,
    stop: (graceMs) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
