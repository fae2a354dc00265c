/**
 * Composition root: parses the configuration, creates the one pino root logger, wires the
 * adapters (LevelDB store, gRPC peer transport) into the member, serves the public API and the
 * HTTP endpoints, and runs the ordered shutdown on SIGTERM/SIGINT.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { seededRng } from './util/rng.js';
import { DecodeError } from './util/bytes.js';
import type { Clock } from './util/clock.js';
import type { NodeId } from './util/brand.js';
import { treeLimits } from './tree/limits.js';
import { ArborStore } from './storage/arbor-store.js';
import { StorageError } from './storage/storage-error.js';
import { PeerError, PeerTransport } from './transport/index.js';
import { Member } from './server/member.js';
import type { ServerConfig } from './server/config.js';
import { helpText, parseServerConfig } from './server/config.js';
import { GRPC_CODE, MemberError } from './server/errors.js';
import type { PeerHandlerPort } from './server/ports.js';
import { startClientServer } from './api/grpc-server.js';
import { rootLogger } from './log.js';
import { clientPortCredentials, isLoopback, loadTls, peerCredentials } from './security/tls.js';
import { startHttpServer } from './api/http-server.js';
import { Metrics } from './api/metrics.js';
import { AuthGate } from './api/auth-gate.js';
import { ConnectionLimits } from './api/connection-limits.js';
import { SessionQuota } from './api/session-quota.js';

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
};

export interface RunningServer {
  readonly member: Member;
  readonly clientPort: number;
  stop(): Promise<void>;
}

/** Turns member errors into the transport's status-carrying errors at the peer boundary. */
function peerBoundary(member: () => Member): PeerHandlerPort {
  const wrap = (e: unknown): never => {
    if (e instanceof MemberError) throw new PeerError(GRPC_CODE[e.code], e.message);
    // A payload the member's decoders refuse is the sender's fault, not ours (found by fuzzing).
    if (e instanceof DecodeError)
      throw new PeerError(GRPC_CODE.invalidArgument, `malformed payload: ${e.message}`);
    throw e;
  };
  return {
    onMessages: (from, msgs) => member().onMessages(from, msgs),
    onSnapshot: (from, header, chunks) => member().onSnapshot(from, header, chunks).catch(wrap),
    onForward: (from, kind, payload, deadline) =>
      member().onForward(from, kind, payload, deadline).catch(wrap),
  };
}

export async function startServer(cfg: ServerConfig, root: Logger): Promise<RunningServer> {
  const log = root.child({ member: cfg.id });
  mkdirSync(cfg.dataDir, { recursive: true });
  const storeLog = log.child({ component: 'storage' });
  const metrics = new Metrics();
  const store = await ArborStore.open(cfg.dataDir, {
    onSync: (ms) => metrics.member.fsyncLatency(ms / 1000),
    logger: {
      debug: (f, m) => storeLog.debug(f, m),
      info: (f, m) => storeLog.info(f, m),
      warn: (f, m) => storeLog.warn(f, m),
    },
  });
  // Bound after construction: the transport's handler needs the member, the member the transport.
  let member: Member | undefined = undefined;
  const transport = new PeerTransport({
    selfId: cfg.id,
    clusterId: cfg.clusterId,
    listenAddr: cfg.listenPeerAddr,
    peers: new Map<NodeId, string>(),
    handler: peerBoundary(() => {
      if (!member) throw new MemberError('unavailable', 'member is starting');
      return member;
    }),
    logger: log.child({ component: 'transport' }),
    // Forwarded writes share one ordered stream per leader instead of a unary call each.
    pipelineForwards: true,
    maxMessageBytes: cfg.limits.peerMaxMessageBytes,
    ...(cfg.peerTls ? { credentials: peerCredentials(loadTls(cfg.peerTls, 'peer TLS')) } : {}),
  });
  warnPlaintext(log, cfg);
  const limits = treeLimits({
    maxDataBytes: cfg.maxDataBytes,
    maxPathBytes: cfg.limits.maxPathBytes,
    maxDepth: cfg.limits.maxPathDepth,
    maxChildren: cfg.limits.maxChildren,
    maxMultiOps: cfg.limits.maxMultiOps,
  });
  const fatal = (e: Error): void => {
    log.fatal({ err: e }, 'member failed; exiting');
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  };
  // Counters only the member and the API see as they happen go through metrics.member and
  // metrics.grpcInterceptor; the rest is read from member and store at scrape time.
  member = new Member(
    {
      self: cfg.initialCluster.get(cfg.id) ?? {
        id: cfg.id,
        name: cfg.name,
        peerUrl: cfg.peerAddr,
        clientUrl: cfg.clientAddr,
      },
      clusterId: cfg.clusterId,
      initialCluster: cfg.initialCluster,
      join: cfg.join,
      tickMs: cfg.tickMs,
      electionTicks: cfg.electionTicks,
      heartbeatTicks: cfg.heartbeatTicks,
      limits,
      snapshotEntries: cfg.snapshotEntries,
      catchUpEntries: Math.min(5000, Math.floor(cfg.snapshotEntries / 2)),
      forwardsInFlight: 4,
      storage: store,
      transport,
      clock: systemClock,
      rng: seededRng(randomInt(2 ** 31)),
      logger: log.child({ component: 'member' }),
      metrics: metrics.member,
      watch: { progressMs: cfg.watchProgressMs },
    },
    fatal,
  );
  metrics.observe({ member, store });
  await transport.start();
  await member.start();
  const apiLog = log.child({ component: 'api' });
  const live = member;
  const clientServer = await startClientServer(
    {
      member,
      limits,
      clock: systemClock,
      logger: apiLog,
      defaultTimeoutMs: cfg.requestTimeoutMs,
      connections: new ConnectionLimits({
        maxRequests: cfg.limits.maxRequestsPerConnection,
        maxWatches: cfg.limits.maxWatchesPerConnection,
      }),
      sessions: new SessionQuota(
        cfg.limits.maxSessionsPerClient,
        (id) => live.sessionTimeout(id) !== undefined,
      ),
      maxRequestDataBytes: cfg.limits.maxRequestDataBytes,
      minSessionTimeoutMs: Math.max(100, cfg.tickMs * 2),
      auth: new AuthGate({
        tree: () => live.tree,
        clock: systemClock,
        tokenTtlMs: cfg.authTokenTtlMs,
        audit: log.child({ component: 'audit' }),
      }),
    },
    cfg.listenClientAddr,
    {
      maxMessageBytes: cfg.limits.maxMessageBytes,
      // Every call is a stream: room for the budgets plus a session's KeepAlive streams, so that
      // the budgets, which say what to fix, refuse first.
      maxConcurrentStreams:
        cfg.limits.maxRequestsPerConnection +
        cfg.limits.maxWatchesPerConnection +
        cfg.limits.maxSessionsPerClient +
        64,
      interceptors: [metrics.grpcInterceptor],
      ...(cfg.tls
        ? {
            credentials: clientPortCredentials(loadTls(cfg.tls, 'client TLS'), cfg.tls.clientAuth),
          }
        : {}),
    },
  );
  const http = await startHttpServer(member, metrics, cfg.httpAddr, log.child({ component: 'http' }));
  log.info(
    {
      clientAddr: cfg.clientAddr,
      clientPort: clientServer.port,
      peerAddr: cfg.peerAddr,
      listenClientAddr: cfg.listenClientAddr,
      listenPeerAddr: cfg.listenPeerAddr,
      httpAddr: cfg.httpAddr,
      dataDir: cfg.dataDir,
    },
    'arbor member serving',
  );
  const m = member;
  let stopping: Promise<void> | undefined;
  return {
    member: m,
    clientPort: clientServer.port,
    stop: () =>
      (stopping ??= (async () => {
        log.info('shutting down');
        clientServer.health.setStatus('', 'NOT_SERVING');
        // Hand leadership over first so the cluster does not wait out an election timeout.
        await m.transferLeadershipAway(cfg.tickMs * cfg.electionTicks * 2).catch(() => false);
        await clientServer.stop(2000);
        await m.stop();
        await transport.stop();
        await http.close();
        await store.close();
        log.info('stopped');
      })()),
  };
}

/** Plaintext is for loopback only: anywhere else, say so loudly (--require-tls refuses it). */
function warnPlaintext(log: Logger, cfg: ServerConfig): void {
  if (!cfg.peerTls && !isLoopback(cfg.listenPeerAddr)) {
    log.warn(
      { listenPeerAddr: cfg.listenPeerAddr },
      'PEER PORT WITHOUT TLS on a non-loopback address: anyone who can reach it can forge Raft messages; set --peer-tls-cert/--peer-tls-key/--peer-tls-ca (see `arbor certs`)',
    );
  }
  if (!cfg.tls && !isLoopback(cfg.listenClientAddr)) {
    log.warn(
      { listenClientAddr: cfg.listenClientAddr },
      'CLIENT PORT WITHOUT TLS on a non-loopback address: traffic is readable and forgeable on the network; set --tls-cert/--tls-key',
    );
  }
}

/** `arbor server ...`: runs one member until SIGTERM/SIGINT. */
export async function runServerCli(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const parsed = parseServerConfig(argv, process.env);
  if (!parsed.ok) {
    process.stderr.write(`arbor server: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const cfg = parsed.value;
  const log = rootLogger(cfg.logLevel);
  let server: RunningServer;
  try {
    server = await startServer(cfg, log);
  } catch (e) {
    if (e instanceof StorageError) process.stderr.write(`arbor server: ${e.message}\n`);
    else process.stderr.write(`arbor server: failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 50).unref();
    return;
  }
  const onSignal = (sig: string): void => {
    log.info({ signal: sig }, 'signal received');
    server.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
