/**
 * A typed configuration value that is always current (etcd's watch-from-revision pattern): read
 * once, then follow a node watch from the read's revision + 1. The Watcher resumes broken
 * streams from its last revision on another member; if the watch cannot resume (history
 * compacted), the value is re-read with a linearizable read and followed again. The value
 * never goes back in time: anything at or below the current revision is ignored.
 */
import { EventEmitter } from 'node:events';
import { sleep } from '../abort.js';
import type { ArborClient } from '../client.js';
import { FailedPreconditionError, NodeExistsError, NoNodeError, toArborError } from '../errors.js';
import type { CallOptions, Data } from '../types.js';
import { changeUntil, throwIfAborted } from './internal.js';

export interface Codec<T> {
  decode(data: Buffer): T;
  encode(value: T): Data;
}

/** JSON, the default codec. */
export function jsonCodec<T>(): Codec<T> {
  return {
    decode: (d) => JSON.parse(d.toString()) as T,
    encode: (v) => JSON.stringify(v),
  };
}

export interface ConfigWatcherOptions<T> {
  readonly codec?: Codec<T>;
  /** The value while the node does not exist (default undefined). */
  readonly defaultValue?: T;
  /** Called when stored data does not decode; the previous value is kept. */
  readonly onInvalid?: (e: unknown, data: Buffer) => void;
}

export interface ConfigWatcherEvents<T> {
  /** (value, revision it is current at). */
  change: [T | undefined, number];
}

export class ConfigWatcher<T> extends EventEmitter<ConfigWatcherEvents<T>> {
  private current: T | undefined;
  /** Invariant: never decreases; `current` is the node's value as of this revision. */
  private rev = 0;
  private readonly codec: Codec<T>;
  private readonly stop = new AbortController();
  private readonly loop: Promise<void>;
  private resolveReady!: () => void;
  private readonly readyP = new Promise<void>((r) => (this.resolveReady = r));

  constructor(
    private readonly client: ArborClient,
    readonly path: string,
    private readonly opts: ConfigWatcherOptions<T> = {},
  ) {
    super();
    this.codec = opts.codec ?? jsonCodec<T>();
    this.current = opts.defaultValue;
    this.loop = this.run();
  }

  /** The current value (the default while the node does not exist). */
  get value(): T | undefined {
    return this.current;
  }

  /** The revision the value is current at; never decreases. */
  get revision(): number {
    return this.rev;
  }

  ready(): Promise<void> {
    return this.readyP;
  }

  /** Resolves with the value once `pred` accepts it. */
  async waitFor(
    pred: (v: T | undefined, revision: number) => boolean,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T | undefined> {
    await this.ready();
    const holds = (): boolean => pred(this.current, this.rev);
    await changeUntil(this, holds, `waiting for ${this.path}`, opts, this.stop.signal);
    return this.current;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private apply(revision: number, data: Buffer | undefined): void {
    if (revision <= this.rev) return;
    let next: T | undefined = this.opts.defaultValue;
    if (data !== undefined) {
      try {
        next = this.codec.decode(data);
      } catch (e) {
        this.opts.onInvalid?.(e, data);
        this.rev = revision;
        return;
      }
    }
    this.rev = revision;
    this.current = next;
    this.emit('change', next, revision);
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.read(signal);
        failures = 0;
        this.resolveReady();
        const w = this.client.watch(this.path, { scope: 'node', startRevision: this.rev + 1, signal });
        try {
          for await (const ev of w) this.apply(ev.revision, ev.type === 'deleted' ? undefined : ev.data);
        } finally {
          this.rev = Math.max(this.rev, w.lastRevision);
          w.close();
        }
        throwIfAborted(signal);
      } catch {
        if (signal.aborted) break;
        await sleep(Math.min(1000, 50 * 2 ** failures++), signal).catch(() => undefined);
      }
    }
  }

  /** A linearizable read: at or after every revision seen so far, so `apply` keeps it. */
  private async read(signal: AbortSignal): Promise<void> {
    try {
      const got = await this.client.get(this.path, { signal });
      this.apply(got.revision, got.data);
    } catch (e) {
      if (!(toArborError(e) instanceof NoNodeError)) throw e;
      const ex = await this.client.exists(this.path, { signal });
      if (ex.exists) throw e; // created in between: read again
      this.apply(ex.revision, undefined);
    }
  }
}

/**
 * Read-modify-write of a config value with compare-and-set on the node version, retried on
 * conflict. `fn` gets undefined while the node does not exist.
 */
export async function updateConfig<T>(
  client: ArborClient,
  path: string,
  fn: (current: T | undefined) => T,
  opts: CallOptions & { codec?: Codec<T> } = {},
): Promise<T> {
  const codec = opts.codec ?? jsonCodec<T>();
  for (;;) {
    let current: T | undefined;
    let version = -2;
    try {
      const got = await client.get(path, opts);
      current = codec.decode(got.data);
      version = got.stat.version;
    } catch (e) {
      if (!(toArborError(e) instanceof NoNodeError)) throw e;
    }
    const next = fn(current);
    try {
      if (version === -2) await client.create(path, codec.encode(next), { ...opts, createParents: true });
      else await client.set(path, codec.encode(next), { ...opts, expectedVersion: version });
      return next;
    } catch (e) {
      const err = toArborError(e);
      if (!(err instanceof FailedPreconditionError) && !(err instanceof NodeExistsError)) throw err;
    }
  }
}
