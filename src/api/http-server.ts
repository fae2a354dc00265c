/**
 * The member's HTTP endpoint: /healthz (process alive), /readyz (has a leader and has applied
 * up to the commit index it knows), /metrics (Prometheus text).
 */
import http from 'node:http';
import type { Logger } from 'pino';
import type { Member } from '../server/member.js';
import { Metrics } from './metrics.js';

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(member: Member, addr: string, log: Logger): Promise<HttpServer> {
  const metrics = new Metrics(member);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url === '/readyz') {
      const st = member.status();
      const ready = st.leader !== 0 && st.applied >= st.commit;
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(
          ready ? 'ready\n' : `not ready: leader=${st.leader} applied=${st.applied} commit=${st.commit}\n`,
        );
      return;
    }
    if (url === '/metrics') {
      metrics.render().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (e: unknown) => {
          log.error({ err: e }, 'metrics failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /healthz, /readyz or /metrics\n');
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
