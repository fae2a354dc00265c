/**
 * What a workload needs from a system under test. Arbor, etcd and ZooKeeper each implement it,
 * so one load generator drives all three with the same client counts, sizes and clocks.
 */

/** One client connection (an ArborClient, an Etcd3 instance, a ZooKeeper session). */
export interface BenchConn {
  /** Overwrite an existing key. */
  put(key: string, value: Buffer): Promise<void>;
  /** Create a new key under `prefix` (sequential: the system names it). */
  create(prefix: string, value: Buffer): Promise<void>;
  /** Read a key; `linearizable` false means member-local (serializable) reads. */
  get(key: string, linearizable: boolean): Promise<void>;
  /**
   * Watch every key under `prefix`; `onEvent(key)` is called once per change seen. Resolves
   * once the watch is registered on the server.
   */
  watch(prefix: string, keys: readonly string[], onEvent: (key: string) => void): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** The members this connection may use, in the order it should prefer them. */
  readonly endpoints: readonly string[];
}

export interface BenchSystem {
  readonly name: string;
  /** False when the system's client cannot do linearizable reads. */
  readonly linearizableReads: boolean;
  connect(opts: ConnectOptions): Promise<BenchConn>;
  /** Create `keys` under `prefix` (and the prefix itself where the system needs parents). */
  prepare(conn: BenchConn, prefix: string, keys: readonly string[], value: Buffer): Promise<void>;
  /** A short label for an error thrown by this system's client. */
  errorLabel(e: unknown): string;
}

/** A cluster the tool started itself: it can read CPU time and kill members. */
export interface ManagedCluster {
  readonly name: string;
  /** Client endpoints, member i at index i. */
  readonly endpoints: readonly string[];
  /** PIDs of running member processes. */
  pids(): number[];
  /** Index of the current leader (waits for one). */
  leaderIndex(): Promise<number>;
  /** SIGKILL member i. */
  kill(i: number): void;
  /** Start member i again on its data; resolves when the cluster is healthy with it. */
  restart(i: number): Promise<void>;
  /** Kill everything and remove the data. */
  stop(): Promise<void>;
}
