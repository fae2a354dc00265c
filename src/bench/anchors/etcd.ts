/**
 * etcd as an anchor: the `etcd3` npm client, and a local 3-member `etcd` (Debian etcd-server)
 * cluster with default durability (fsync of the WAL before every ack, the default).
 */
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { BenchConn, BenchSystem, ConnectOptions, ManagedCluster } from '../driver-interface.js';
import { ProcGroup, freePort, until } from '../proc-cluster.js';

export const ETCD_BIN = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';

export class EtcdSystem implements BenchSystem {
  readonly name = 'etcd';
  readonly linearizableReads = true;

  connect(opts: ConnectOptions): Promise<BenchConn> {
    return Promise.resolve(new EtcdConn(new Etcd3({ hosts: opts.endpoints.map((e) => `http://${e}`) })));
  }

  async prepare(conn: BenchConn, _prefix: string, keys: readonly string[], value: Buffer): Promise<void> {
    const c = (conn as EtcdConn).client;
    for (let i = 0; i < keys.length; i += 64) {
      await Promise.all(keys.slice(i, i + 64).map((k) => c.put(k).value(value)));
    }
  }

  errorLabel(e: unknown): string {
    return e instanceof Error ? e.name || e.constructor.name : 'unknown';
  }
}

class EtcdConn implements BenchConn {
  private seq = 0;
  private readonly tag = Math.random().toString(36).slice(2, 8);

  constructor(readonly client: Etcd3) {}

  async put(key: string, value: Buffer): Promise<void> {
    await this.client.put(key).value(value).exec();
  }

  /** etcd has no sequential keys: a create is a put of a fresh key (etcd benchmark `put` with a new key). */
  async create(prefix: string, value: Buffer): Promise<void> {
    await this.client.put(`${prefix}/s-${this.tag}-${this.seq++}`).value(value).exec();
  }

  async get(key: string, linearizable: boolean): Promise<void> {
    await this.client.get(key).serializable(!linearizable).exec();
  }

  async watch(prefix: string, _keys: readonly string[], onEvent: (key: string) => void): Promise<void> {
    const w = await this.client.watch().prefix(prefix).create();
    w.on('put', (kv) => onEvent(kv.key.toString()));
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

interface EtcdStatus {
  header?: { member_id?: string };
  leader?: string;
}

export class EtcdCluster implements ManagedCluster {
  readonly name = 'etcd';

  private constructor(
    private readonly group: ProcGroup,
    readonly endpoints: readonly string[],
  ) {}

  static async start(size = 3): Promise<EtcdCluster> {
    const group = new ProcGroup('etcd-bench-');
    const ms: { client: number; peer: number }[] = [];
    for (let i = 0; i < size; i++) ms.push({ client: await freePort(), peer: await freePort() });
    const initial = ms.map((m, i) => `e${i + 1}=http://127.0.0.1:${m.peer}`).join(',');
    ms.forEach((m, i) => {
      group.add({
        command: ETCD_BIN,
        args: [
          '--name',
          `e${i + 1}`,
          '--data-dir',
          path.join(group.dir, `e${i + 1}`),
          '--listen-client-urls',
          `http://127.0.0.1:${m.client}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${m.client}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${m.peer}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${m.peer}`,
          '--initial-cluster',
          initial,
          '--initial-cluster-state',
          'new',
          '--initial-cluster-token',
          'arbor-bench',
          '--log-level',
          'error',
        ],
      });
      group.start(i);
    });
    const c = new EtcdCluster(
      group,
      ms.map((m) => `127.0.0.1:${m.client}`),
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

  private async status(i: number): Promise<{ id: string; leader: string }> {
    const res = await fetch(`http://${this.endpoints[i]!}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(500),
    });
    const st = (await res.json()) as EtcdStatus;
    return { id: st.header?.member_id ?? '', leader: st.leader ?? '0' };
  }

  async leaderIndex(timeoutMs = 30_000): Promise<number> {
    return until(
      async () => {
        const st: { id: string; leader: string }[] = [];
        for (let i = 0; i < this.endpoints.length; i++)
          if (this.group.running(i)) st.push(await this.status(i));
        const leaders = new Set(st.map((s) => s.leader));
        const [only] = [...leaders];
        if (leaders.size !== 1 || only === undefined || only === '0') return undefined;
        for (let i = 0; i < this.endpoints.length; i++) {
          if (this.group.running(i) && (await this.status(i)).id === only) return i;
        }
        return undefined;
      },
      timeoutMs,
      `an etcd leader\n${this.group.logs()}`,
    );
  }

  kill(i: number): void {
    this.group.killNow(i);
  }

  async restart(i: number): Promise<void> {
    await this.group.kill(i);
    this.group.start(i);
    await until(async () => (await this.status(i)).leader !== '0', 30_000, `etcd member ${i} back`);
    await this.leaderIndex();
  }

  stop(): Promise<void> {
    return this.group.stop();
  }
}
