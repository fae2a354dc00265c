/**
 * The member's HTTP endpoint:
 * - /healthz: the process is alive and its event loop answers (liveness; restart when it fails);
 * - /readyz: the member knows a leader and has applied everything the leader had committed when
 *   asked — a ReadIndex round trip (Raft dissertation §6.4), so a lagging or partitioned member
 *   is not ready (readiness; route clients elsewhere while it fails);
 * - /metrics: Prometheus text.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Member } from '../server/member.js';
import type { Metrics } from './metrics.js';

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** How long /readyz waits for the leader to confirm the read index. */
const READY_TIMEOUT_MS = 1000;

export type ReadinessSource = Pick<Member, 'status' | 'linearize'>;

/** Ready = a leader is known and this member has caught up with the leader's commit index. */
export async function readiness(member: ReadinessSource): Promise<{ ready: boolean; detail: string }> {
  const st = member.status();
  if (st.leader === 0) return { ready: false, detail: `no leader (term ${st.term}, role ${st.role})` };
  try {
    const applied = await member.linearize(performance.now() + READY_TIMEOUT_MS);
    return { ready: true, detail: `leader ${member.status().leader}, applied ${applied}` };
  } catch (e) {
    const now = member.status();
    return {
      ready: false,
      detail:
        `not caught up with leader ${now.leader}: applied ${now.applied}, commit ${now.commit} ` +
        `(${e instanceof Error ? e.message : String(e)})`,
    };
  }
}

export async function startHttpServer(
  member: ReadinessSource,
  metrics: Metrics,
  addr: string,
  log: Logger,
): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const text = (code: number, body: string): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(405, 'only GET\n');
      return;
    }
    if (url === '/healthz') {
      text(200, 'ok\n');
      return;
    }
    if (url === '/readyz') {
      readiness(member).then(
        (r) => text(r.ready ? 200 : 503, `${r.ready ? 'ready' : 'not ready'}: ${r.detail}\n`),
        (e: unknown) => {
          log.error({ err: e }, 'readiness check failed');
          text(500, 'readiness check failed\n');
        },
      );
      return;
    }
    if (url === '/metrics') {
      metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (e: unknown) => {
          log.error({ err: e }, 'metrics failed');
          text(500, 'metrics failed\n');
        },
      );
      return;
    }
    text(404, 'not found: try /healthz, /readyz or /metrics\n');
  });
  const sep = addr.lastIndexOf(':');
  const host = addr.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(sep + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound ? bound.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
