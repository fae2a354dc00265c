/**
 * Service registry and discovery (Curator's ServiceDiscovery / ServiceCache). An instance is an
 * ephemeral node `<base>/<group>/<id>` holding JSON {id, address, metadata, registeredMs}: it
 * lives exactly as long as the registering session, so a crashed instance leaves the set within
 * one session timeout. The discovery cache reads the group once, then follows a subtree watch
 * from the read's revision + 1; each entry remembers the revision it reflects, so a replayed
 * older event never overwrites newer data.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { sleep } from '../abort.js';
import type { ArborClient } from '../client.js';
import { NodeExistsError, NoNodeError, toArborError } from '../errors.js';
import type { Session } from '../session.js';
import type { CallOptions } from '../types.js';
import {
  changeUntil,
  deleteIfExists,
  ensurePath,
  joinPath,
  sessionEndSignal,
  throwIfAborted,
} from './internal.js';

export interface ServiceInstance<M = Record<string, unknown>> {
  readonly id: string;
  /** host:port, URL — whatever clients connect to. */
  readonly address: string;
  readonly metadata: M;
  readonly registeredMs: number;
}

export interface RegisterOptions<M> extends CallOptions {
  /** Default: a random UUID. Must be a valid znode name (no '/'). */
  readonly id?: string;
  readonly address: string;
  readonly metadata?: M;
}

/** A live registration; it ends with the session, `unregister()`, or deletion of the node. */
export class Registration<M = Record<string, unknown>> {
  private readonly ended: { signal: AbortSignal; dispose(): void };

  constructor(
    private readonly client: ArborClient,
    session: Session,
    readonly path: string,
    private current: ServiceInstance<M>,
  ) {
    this.ended = sessionEndSignal(session);
  }

  get instance(): ServiceInstance<M> {
    return this.current;
  }

  /** Aborts when the session ends: the instance is no longer discoverable; register again. */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  async update(metadata: M, opts: CallOptions = {}): Promise<void> {
    const next = { ...this.current, metadata };
    await this.client.set(this.path, JSON.stringify(next), opts);
    this.current = next;
  }

  async unregister(): Promise<void> {
    this.ended.dispose();
    await deleteIfExists(this.client, this.path);
  }
}

export function groupPath(basePath: string, group: string): string {
  return joinPath(basePath, group);
}

/** Register an instance of `group` under `basePath` for as long as `session` lives. */
export async function register<M = Record<string, unknown>>(
  client: ArborClient,
  session: Session,
  basePath: string,
  group: string,
  opts: RegisterOptions<M>,
): Promise<Registration<M>> {
  const dir = groupPath(basePath, group);
  const instance: ServiceInstance<M> = {
    id: opts.id ?? randomUUID(),
    address: opts.address,
    metadata: opts.metadata ?? ({} as M),
    registeredMs: Date.now(),
  };
  const path = joinPath(dir, instance.id);
  await ensurePath(client, dir, opts.signal);
  try {
    await client.create(path, JSON.stringify(instance), {
      ...opts,
      mode: 'ephemeral',
      sessionId: session.id,
    });
  } catch (e) {
    const err = toArborError(e);
    if (!(err instanceof NodeExistsError)) throw err;
    // Ours already (an earlier attempt of this session)? Then take it over; else the id is taken.
    const got = await client.get(path);
    if (got.stat.ephemeralOwner !== session.id) {
      throw new NodeExistsError(`service instance ${path} is registered by another session`, { cause: err });
    }
    await client.set(path, JSON.stringify(instance));
  }
  return new Registration(client, session, path, instance);
}

export type PickStrategy = 'round-robin' | 'random';

export interface ServiceDiscoveryEvents<M> {
  change: [ServiceInstance<M>[]];
}

interface Entry<M> {
  /** Revision this entry reflects (a create/update, or the read that loaded it). */
  readonly revision: number;
  /** undefined: deleted at `revision` (a tombstone, so an older replayed create is ignored). */
  readonly instance: ServiceInstance<M> | undefined;
}

/** A cache of the live instances of one group. */
export class ServiceDiscovery<M = Record<string, unknown>> extends EventEmitter<ServiceDiscoveryEvents<M>> {
  private entries = new Map<string, Entry<M>>();
  private list: ServiceInstance<M>[] = [];
  private rr = 0;
  private readonly stop = new AbortController();
  private readonly loop: Promise<void>;
  private resolveReady!: () => void;
  private readonly readyP = new Promise<void>((r) => (this.resolveReady = r));
  readonly path: string;

  constructor(
    private readonly client: ArborClient,
    basePath: string,
    readonly group: string,
  ) {
    super();
    this.path = groupPath(basePath, group);
    this.loop = this.run();
  }

  /** Resolves once the first full read is in the cache. */
  ready(): Promise<void> {
    return this.readyP;
  }

  /** The live instances, sorted by id. */
  instances(): ServiceInstance<M>[] {
    return [...this.list];
  }

  /** One instance, round-robin (default) or at random; undefined when none is registered. */
  pick(strategy: PickStrategy = 'round-robin'): ServiceInstance<M> | undefined {
    if (this.list.length === 0) return undefined;
    const i =
      strategy === 'random' ? Math.floor(Math.random() * this.list.length) : this.rr++ % this.list.length;
    return this.list[i];
  }

  /** Resolves with the instance list once `pred` accepts it. */
  async waitFor(
    pred: (instances: ServiceInstance<M>[]) => boolean,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<ServiceInstance<M>[]> {
    await this.ready();
    const what = `waiting for instances of ${this.group}`;
    await changeUntil(this, () => pred(this.instances()), what, opts, this.stop.signal);
    return this.instances();
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const from = await this.load(signal);
        failures = 0;
        this.resolveReady();
        await this.follow(from, signal);
      } catch {
        // Retried forever while open; a full reload follows.
        if (signal.aborted) break;
        await sleep(Math.min(1000, 50 * 2 ** failures++), signal).catch(() => undefined);
      }
    }
  }

  /** Full read; returns the revision to watch from. */
  private async load(signal: AbortSignal): Promise<number> {
    await ensurePath(this.client, this.path, signal);
    const { children, revision } = await this.client.children(this.path, { signal });
    const next = new Map<string, Entry<M>>();
    await Promise.all(
      children.map(async (name) => {
        try {
          const got = await this.client.get(joinPath(this.path, name), { signal });
          const instance = parse<M>(got.data);
          if (instance) next.set(name, { revision: got.stat.modifiedRevision, instance });
        } catch (e) {
          if (!(toArborError(e) instanceof NoNodeError)) throw e;
        }
      }),
    );
    this.entries = next;
    this.publish();
    return revision + 1;
  }

  private async follow(from: number, signal: AbortSignal): Promise<void> {
    const w = this.client.watch(this.path, { scope: 'subtree', startRevision: from, signal });
    try {
      for await (const ev of w) {
        const rel = ev.path.slice(this.path.length + 1);
        if (!ev.path.startsWith(this.path + '/') || rel.includes('/')) continue;
        const known = this.entries.get(rel);
        if (known && known.revision >= ev.revision) continue;
        const instance = ev.type === 'deleted' ? undefined : parse<M>(ev.data);
        this.entries.set(rel, { revision: ev.revision, instance });
        this.publish();
      }
    } finally {
      w.close();
    }
    throwIfAborted(signal);
  }

  private publish(): void {
    const list = [...this.entries.values()]
      .map((e) => e.instance)
      .filter((i): i is ServiceInstance<M> => i !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const same =
      list.length === this.list.length &&
      list.every((x, i) => JSON.stringify(x) === JSON.stringify(this.list[i]));
    this.list = list;
    if (!same) this.emit('change', this.instances());
  }
}

function parse<M>(data: Buffer): ServiceInstance<M> | undefined {
  try {
    const v = JSON.parse(data.toString()) as Partial<ServiceInstance<M>>;
    if (typeof v.id !== 'string' || typeof v.address !== 'string') return undefined;
    return v as ServiceInstance<M>;
  } catch {
    return undefined;
  }
}
