/**
 * ZooKeeper as an anchor: the `node-zookeeper-client` npm client, and a local 3-server ensemble
 * of Debian's zookeeper (QuorumPeerMain on OpenJDK) with default durability (forceSync=yes:
 * the transaction log is fsynced before a proposal is acknowledged).
 *
 * node-zookeeper-client has no `sync`, so linearizable reads are not measured for ZooKeeper;
 * plain ZooKeeper reads are member-local (sequentially consistent), compared with Arbor's and
 * etcd's serializable reads.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { BenchConn, BenchSystem, ConnectOptions, ManagedCluster } from '../driver-interface.js';
import { ProcGroup, freePort, until } from '../proc-cluster.js';

/** The slice of node-zookeeper-client's API we use (the package ships no types). */
interface ZkException extends Error {
  getCode(): number;
  getName(): string;
}
type Cb<T = void> = (e: ZkException | null, r?: T) => void;
interface ZkClient {
  connect(): void;
  close(): void;
  once(ev: 'connected', fn: () => void): void;
  on(ev: string, fn: (...a: unknown[]) => void): void;
  setData(path: string, data: Buffer, version: number, cb: Cb): void;
  create(path: string, data: Buffer, mode: number, cb: Cb<string>): void;
  getData(
    path: string,
    watcher: ((ev: { name: string; path: string }) => void) | undefined,
    cb: Cb<Buffer>,
  ): void;
  getState(): { name: string };
}
interface ZkModule {
  createClient(conn: string, opts: { sessionTimeout: number; spinDelay: number; retries: number }): ZkClient;
  CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number };
  Exception: { NODE_EXISTS: number };
}
const zk = createRequire(import.meta.url)('node-zookeeper-client') as ZkModule;

const JAVA = process.env['JAVA_BIN'] ?? '/usr/bin/java';
const ZK_CLASSPATH = process.env['ZK_CLASSPATH'] ?? '/etc/zookeeper/conf:/usr/share/java/zookeeper.jar';

function p<T>(f: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => f((e, r) => (e ? reject(e) : resolve(r as T))));
}

export class ZkSystem implements BenchSystem {
  readonly name = 'zookeeper';
  readonly linearizableReads = false;

  async connect(opts: ConnectOptions): Promise<BenchConn> {
    // The client picks a random server from the list; give it only the first so connections
    // spread over members the same way as for the other systems, the rest for failover.
    const c = zk.createClient(opts.endpoints.join(','), {
      sessionTimeout: 10_000,
      spinDelay: 50,
      retries: 0,
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('zookeeper connect timeout')), 20_000);
      c.once('connected', () => {
        clearTimeout(t);
        resolve();
      });
      c.connect();
    });
    return new ZkConn(c);
  }

  async prepare(conn: BenchConn, prefix: string, keys: readonly string[], value: Buffer): Promise<void> {
    const c = (conn as ZkConn).client;
    const create = async (k: string, v: Buffer): Promise<void> => {
      try {
        await p<string>((cb) => c.create(k, v, zk.CreateMode.PERSISTENT, cb));
      } catch (e) {
        if ((e as ZkException).getCode?.() !== zk.Exception.NODE_EXISTS) throw e;
      }
    };
    await create(prefix, Buffer.alloc(0));
    for (let i = 0; i < keys.length; i += 64)
      await Promise.all(keys.slice(i, i + 64).map((k) => create(k, value)));
  }

  errorLabel(e: unknown): string {
    const z = e as Partial<ZkException>;
    if (typeof z.getName === 'function') return z.getName();
    return e instanceof Error ? e.name : 'unknown';
  }
}

class ZkConn implements BenchConn {
  constructor(readonly client: ZkClient) {}

  put(key: string, value: Buffer): Promise<void> {
    return p((cb) => this.client.setData(key, value, -1, cb));
  }

  async create(prefix: string, value: Buffer): Promise<void> {
    await p<string>((cb) =>
      this.client.create(`${prefix}/s-`, value, zk.CreateMode.PERSISTENT_SEQUENTIAL, cb),
    );
  }

  async get(key: string, linearizable: boolean): Promise<void> {
    if (linearizable) throw new Error('node-zookeeper-client has no sync: linearizable reads unavailable');
    await p<Buffer>((cb) => this.client.getData(key, undefined, cb));
  }

  /** One-shot data watches on every key, re-armed by the event handler (the ZooKeeper idiom). */
  async watch(_prefix: string, keys: readonly string[], onEvent: (key: string) => void): Promise<void> {
    const arm = (key: string): Promise<Buffer> =>
      p<Buffer>((cb) =>
        this.client.getData(
          key,
          (ev) => {
            if (ev.name === 'NODE_DATA_CHANGED') onEvent(key);
            arm(key).catch(() => undefined);
          },
          cb,
        ),
      );
    await Promise.all(keys.map(arm));
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

export class ZkCluster implements ManagedCluster {
  readonly name = 'zookeeper';

  private constructor(
    private readonly group: ProcGroup,
    readonly endpoints: readonly string[],
  ) {}

  static async start(size = 3): Promise<ZkCluster> {
    const group = new ProcGroup('zk-bench-');
    const ms: { client: number; quorum: number; election: number }[] = [];
    for (let i = 0; i < size; i++) {
      ms.push({ client: await freePort(), quorum: await freePort(), election: await freePort() });
    }
    ms.forEach((m, i) => {
      const dir = path.join(group.dir, `z${i + 1}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'myid'), `${i + 1}\n`);
      const cfg = path.join(dir, 'zoo.cfg');
      writeFileSync(
        cfg,
        [
          // Debian's example config, with per-member dirs and ports; durability defaults kept.
          'tickTime=2000',
          'initLimit=10',
          'syncLimit=5',
          `dataDir=${dir}`,
          `clientPort=${m.client}`,
          'clientPortAddress=127.0.0.1',
          'admin.enableServer=false',
          '4lw.commands.whitelist=srvr',
          'maxClientCnxns=0',
          ...ms.map((x, j) => `server.${j + 1}=127.0.0.1:${x.quorum}:${x.election}`),
          '',
        ].join('\n'),
      );
      group.add({
        command: JAVA,
        args: [
          `-Dzookeeper.log.dir=${dir}`,
          '-Dzookeeper.root.logger=WARN,CONSOLE',
          '-cp',
          ZK_CLASSPATH,
          'org.apache.zookeeper.server.quorum.QuorumPeerMain',
          cfg,
        ],
      });
      group.start(i);
    });
    const c = new ZkCluster(
      group,
      ms.map((m) => `127.0.0.1:${m.client}`),
    );
    try {
      await c.leaderIndex(60_000);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  pids(): number[] {
    return this.group.pids();
  }

  /** The four-letter `srvr` command: "Mode: leader|follower", or an error while electing. */
  private mode(i: number): Promise<string> {
    const [host, port] = this.endpoints[i]!.split(':');
    return new Promise((resolve, reject) => {
      let out = '';
      const s = net.connect(Number(port), host, () => s.write('srvr'));
      s.setTimeout(1_000, () => s.destroy(new Error('srvr timeout')));
      s.on('data', (b) => (out += b.toString()));
      s.on('error', reject);
      s.on('close', () => resolve(/Mode: (\w+)/.exec(out)?.[1] ?? 'none'));
    });
  }

  async leaderIndex(timeoutMs = 30_000): Promise<number> {
    return until(
      async () => {
        let leader: number | undefined;
        for (let i = 0; i < this.endpoints.length; i++) {
          if (!this.group.running(i)) continue;
          const m = await this.mode(i);
          if (m === 'leader') leader = i;
          else if (m !== 'follower') return undefined;
        }
        return leader;
      },
      timeoutMs,
      `a zookeeper leader\n${this.group.logs()}`,
    );
  }

  kill(i: number): void {
    this.group.killNow(i);
  }

  async restart(i: number): Promise<void> {
    await this.group.kill(i);
    this.group.start(i);
    await until(
      async () => (await this.mode(i)) === 'follower' || undefined,
      60_000,
      `zookeeper member ${i} back`,
    );
    await this.leaderIndex();
  }

  stop(): Promise<void> {
    return this.group.stop();
  }
}
