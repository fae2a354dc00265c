/** Arbor as a system under test: the TypeScript client, and a local cluster of real members. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { ArborClient, ArborError, NodeExistsError } from '../client/index.js';
import type { BenchConn, BenchSystem, ConnectOptions, ManagedCluster } from './driver-interface.js';
import { ProcGroup, freePort, until } from './proc-cluster.js';

const SERVER_JS = fileURLToPath(new URL('../cli/server.js', import.meta.url));

const STATUS_NAME = new Map<number, string>(Object.entries(Status).map(([k, v]) => [v as number, k]));

export class ArborSystem implements BenchSystem {
  readonly name = 'arbor';
  readonly linearizableReads = true;

  constructor(private readonly transport: 'stream' | 'unary') {}

  connect(opts: ConnectOptions): Promise<BenchConn> {
    const client = new ArborClient({
      endpoints: opts.endpoints,
      transport: this.transport,
      // Failover: fail fast on a dead member, retry soon.
      attemptTimeoutMs: 1_000,
      // --conns N means N TCP connections, as for the etcd and ZooKeeper clients.
      ownConnections: true,
      backoff: { baseMs: 10, maxMs: 100 },
    });
    return Promise.resolve(new ArborConn(client));
  }

  async prepare(conn: BenchConn, prefix: string, keys: readonly string[], value: Buffer): Promise<void> {
    const c = (conn as ArborConn).client;
    await ignoreExists(c.create(prefix, ''));
    const batch = 64;
    for (let i = 0; i < keys.length; i += batch) {
      await Promise.all(keys.slice(i, i + batch).map((k) => ignoreExists(c.create(k, value))));
    }
  }

  errorLabel(e: unknown): string {
    if (e instanceof ArborError) return STATUS_NAME.get(e.code) ?? `code ${e.code}`;
    return e instanceof Error ? e.name : 'unknown';
  }
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof NodeExistsError)) throw e;
  }
}

class ArborConn implements BenchConn {
  constructor(readonly client: ArborClient) {}

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.set(key, value);
  }

  async create(prefix: string, value: Buffer): Promise<void> {
    await this.client.create(`${prefix}/s-`, value, { mode: 'persistent-sequential' });
  }

  async get(key: string, linearizable: boolean): Promise<void> {
    await this.client.get(key, { consistency: linearizable ? 'linearizable' : 'serializable' });
  }

  async watch(prefix: string, _keys: readonly string[], onEvent: (key: string) => void): Promise<void> {
    // Start from the current revision so registration is complete before the writer starts.
    const { revision } = await this.client.sync(prefix);
    const w = this.client.watch(prefix, { scope: 'subtree', startRevision: revision + 1 });
    void (async () => {
      try {
        for await (const ev of w) onEvent(ev.path);
      } catch {
        /* closed */
      }
    })();
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export interface ArborClusterOptions {
  readonly size?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly extraArgs?: readonly string[];
  /** Extra node flags for the member processes (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
}

export class ArborCluster implements ManagedCluster {
  readonly name = 'arbor';
  private client: ArborClient | undefined;

  private constructor(
    private readonly group: ProcGroup,
    readonly endpoints: readonly string[],
    /** host:port of each member's HTTP endpoint (/readyz, /metrics), member i at index i. */
    readonly httpAddrs: readonly string[],
  ) {}

  static async start(opts: ArborClusterOptions = {}): Promise<ArborCluster> {
    const group = new ProcGroup('arbor-bench-');
    const size = opts.size ?? 3;
    const members: { client: string; peer: string; http: string }[] = [];
    for (let i = 0; i < size; i++) {
      members.push({
        client: `127.0.0.1:${await freePort()}`,
        peer: `127.0.0.1:${await freePort()}`,
        http: `127.0.0.1:${await freePort()}`,
      });
    }
    const initial = members.map((m, i) => `${i + 1}=${m.peer}|${m.client}`).join(',');
    members.forEach((m, i) => {
      const args = [
        ...(opts.nodeArgs ?? []),
        SERVER_JS,
        '--id',
        String(i + 1),
        '--client-addr',
        m.client,
        '--peer-addr',
        m.peer,
        '--http-addr',
        m.http,
        '--initial-cluster',
        initial,
        '--data-dir',
        path.join(group.dir, `m${i + 1}`),
        '--log-level',
        'warn',
        ...(opts.tickMs !== undefined ? ['--tick-ms', String(opts.tickMs)] : []),
        ...(opts.electionTicks !== undefined ? ['--election-ticks', String(opts.electionTicks)] : []),
        ...(opts.extraArgs ?? []),
      ];
      group.add({ command: process.execPath, args });
      group.start(i);
    });
    const c = new ArborCluster(
      group,
      members.map((m) => m.client),
      members.map((m) => m.http),
    );
    try {
      await c.leaderIndex();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  pids(): number[] {
    return this.group.pids();
  }

  /** The leader as every running member reports it (index = id - 1). */
  async leaderIndex(timeoutMs = 30_000): Promise<number> {
    this.client ??= new ArborClient({ endpoints: this.endpoints, attemptTimeoutMs: 500 });
    const client = this.client;
    return until(
      async () => {
        const seen = new Set<number>();
        for (let i = 0; i < this.endpoints.length; i++) {
          if (!this.group.running(i)) continue;
          const st = await client.status({ endpoint: this.endpoints[i]!, deadlineMs: 500 });
          seen.add(st.leaderId);
        }
        const [only] = [...seen];
        return seen.size === 1 && only !== undefined && only > 0 && this.group.running(only - 1)
          ? only - 1
          : undefined;
      },
      timeoutMs,
      `an arbor leader\n${this.group.logs()}`,
    );
  }

  /** The last lines each member printed (for error messages). */
  logs(): string {
    return this.group.logs();
  }

  /** PID of member i, or undefined while it is not running. */
  pidOf(i: number): number | undefined {
    return this.group.pidOf(i);
  }

  kill(i: number): void {
    this.group.killNow(i);
  }

  /**
   * SIGKILL member i, wait for it to exit, and start it again on its data without waiting for
   * anything (the scale workload times the restart itself). Resolves with performance.now() at
   * the spawn.
   */
  async respawn(i: number): Promise<number> {
    await this.group.kill(i);
    const spawnedAt = performance.now();
    this.group.start(i);
    return spawnedAt;
  }

  async restart(i: number): Promise<void> {
    await this.group.kill(i);
    this.group.start(i);
    const client = (this.client ??= new ArborClient({ endpoints: this.endpoints, attemptTimeoutMs: 500 }));
    // Healthy again: the restarted member knows the leader and has applied what it commits.
    await until(
      async () => {
        const st = await client.status({ endpoint: this.endpoints[i]!, deadlineMs: 500 });
        const leader = await client.status({ endpoint: this.endpoints[st.leaderId - 1]!, deadlineMs: 500 });
        return st.leaderId > 0 && st.appliedIndex + 100 >= leader.commitIndex;
      },
      30_000,
      `arbor member ${i + 1} to catch up\n${this.group.logs()}`,
    );
  }

  async stop(): Promise<void> {
    await this.client?.close();
    await this.group.stop();
  }
}
