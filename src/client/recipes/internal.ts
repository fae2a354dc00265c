/**
 * Plumbing shared by the recipes: ensuring parents exist, "protected" sequential names (after
 * Apache Curator: a per-attempt UUID in the name lets a client find its own node after a create
 * whose outcome is unknown), and race-free waiting. Every wait is a watch that starts at
 * `revision + 1` of the read it follows, so an event between the read and the watch is replayed
 * rather than missed — the revision-based replacement for ZooKeeper's "read and set a watch".
 */
import { randomUUID } from 'node:crypto';
import type { ArborClient } from '../client.js';
import {
  ArborError,
  CancelledError,
  DeadlineError,
  NodeExistsError,
  NoNodeError,
  OutOfRangeError,
  UnavailableError,
  toArborError,
} from '../errors.js';
import type { Session } from '../session.js';
import type { WatchEvent, WatchScope } from '../types.js';

/** Digits of the counter the server appends to sequential names (src/tree/path.ts). */
export const SEQUENCE_DIGITS = 10;

/** Creates `path` and any missing ancestors as persistent nodes; an existing node is fine. */
export async function ensurePath(client: ArborClient, path: string, signal?: AbortSignal): Promise<void> {
  try {
    await client.create(path, undefined, { createParents: true, ...(signal ? { signal } : {}) });
  } catch (e) {
    if (!(toArborError(e) instanceof NodeExistsError)) throw e;
  }
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** `_c_<uuid>-`: unique per creating attempt, so the creator recognises its own node. */
export function protectedPrefix(): string {
  return `_c_${randomUUID()}-`;
}

/** The server-assigned counter at the end of a sequential name, or -1 if there is none. */
export function sequenceOf(name: string): number {
  if (name.length < SEQUENCE_DIGITS) return -1;
  const tail = name.slice(-SEQUENCE_DIGITS);
  return /^[0-9]+$/.test(tail) ? Number(tail) : -1;
}

/** Sequential children whose name contains `marker`, in creation (sequence) order. */
export function sequenced(children: readonly string[], marker: string): string[] {
  return children
    .filter((c) => c.includes(marker) && sequenceOf(c) >= 0)
    .sort((a, b) => sequenceOf(a) - sequenceOf(b));
}

/**
 * Create an ephemeral-sequential node named `<dir>/<prefix><kind>-NNNNNNNNNN`. If the create's
 * outcome is unknown (deadline passed), look for the protected prefix before giving up: the
 * node may exist, and leaving it would block every later waiter until the session ends.
 */
export async function createSequentialEphemeral(
  client: ArborClient,
  session: Session,
  dir: string,
  kind: string,
  data: Buffer,
  signal?: AbortSignal,
): Promise<{ path: string; name: string; createdRevision: number }> {
  const prefix = protectedPrefix();
  const opts = { mode: 'ephemeral-sequential' as const, sessionId: session.id };
  try {
    const r = await client.create(joinPath(dir, `${prefix}${kind}-`), data, opts);
    return {
      path: r.path,
      name: r.path.slice(r.path.lastIndexOf('/') + 1),
      createdRevision: r.stat.createdRevision,
    };
  } catch (e) {
    const err = toArborError(e);
    if (!err.outcomeUnknown) throw err;
    const { children } = await client.children(dir, signal ? { signal } : {});
    const name = children.find((c) => c.startsWith(prefix));
    if (name === undefined) throw err;
    const path = joinPath(dir, name);
    const got = await client.get(path);
    return { path, name, createdRevision: got.stat.createdRevision };
  }
}

/** Delete, treating "already gone" as success. */
export async function deleteIfExists(client: ArborClient, path: string): Promise<void> {
  try {
    await client.delete(path);
  } catch (e) {
    if (!(toArborError(e) instanceof NoNodeError)) throw e;
  }
}

/** Aborts when the session is lost or closed: everything it owns must be assumed gone. */
export function sessionEndSignal(session: Session): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  if (session.state === 'lost' || session.state === 'closed') {
    ac.abort(new SessionEndedError(session.id, session.state));
    return { signal: ac.signal, dispose: () => undefined };
  }
  const onState = (to: string): void => {
    if (to === 'lost' || to === 'closed') ac.abort(new SessionEndedError(session.id, to));
  };
  session.on('state', onState);
  return { signal: ac.signal, dispose: () => session.off('state', onState) };
}

/** The recipe's session ended (lost or closed): its ephemeral nodes are gone or going. */
export class SessionEndedError extends UnavailableError {
  constructor(id: bigint, state: string) {
    super(`session ${id.toString(16)} is ${state}: its locks, leadership and registrations are gone`);
    // The base class types `name` as its own literal; keep the subclass name for messages.
    Object.defineProperty(this, 'name', { value: 'SessionEndedError' });
  }
  /** Not retryable with the same session; open a new one. */
  override get isRetryable(): boolean {
    return false;
  }
}

/** The reason an aborted signal carries, as an ArborError. */
export function abortReason(signal: AbortSignal): ArborError {
  const r: unknown = signal.reason;
  if (r instanceof ArborError) return r;
  return new CancelledError('aborted by caller', { cause: r });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

export type WaitOutcome = 'event' | 'recheck';

/**
 * Watch `path` from `fromRevision` and resolve on the first event `wanted` accepts ('event'),
 * or when the watch can no longer promise completeness ('recheck': history compacted, stream
 * failed for good) — the caller then re-reads, which is always safe. Rejects when `signal` aborts.
 */
export async function waitForEvent(
  client: ArborClient,
  path: string,
  scope: WatchScope,
  fromRevision: number,
  signal: AbortSignal | undefined,
  wanted: (e: WatchEvent) => boolean = () => true,
): Promise<WaitOutcome> {
  throwIfAborted(signal);
  const w = client.watch(path, {
    scope,
    startRevision: Math.max(1, fromRevision),
    ...(signal ? { signal } : {}),
  });
  try {
    for await (const ev of w) {
      if (wanted(ev)) return 'event';
    }
  } catch (e) {
    const err = toArborError(e);
    if (err instanceof OutOfRangeError || err.isRetryable) return 'recheck';
    throw err;
  } finally {
    w.close();
  }
  // The iteration ended without an event: closed by the signal (or the client closing).
  throwIfAborted(signal);
  return 'recheck';
}

/** Combine optional signals (AbortSignal.any, Node ≥ 20.3). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  return AbortSignal.any(live);
}

/** A signal that aborts with DeadlineError after `ms` (never if undefined); dispose clears the timer. */
export function timeoutSignal(
  ms: number | undefined,
  what: string,
): { signal?: AbortSignal; dispose(): void } {
  if (ms === undefined) return { dispose: () => undefined };
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DeadlineError(`${what}: not done within ${ms} ms`)),
    Math.max(0, ms),
  );
  return { signal: ac.signal, dispose: () => clearTimeout(timer) };
}

/**
 * Waits, one 'change' event at a time, until `holds()`: checked now, then after every change;
 * bounded by `opts.timeoutMs` (DeadlineError), `opts.signal` and the owner's `stop`.
 */
export async function changeUntil(
  source: ChangeSource,
  holds: () => boolean,
  what: string,
  opts: { readonly signal?: AbortSignal; readonly timeoutMs?: number },
  stop: AbortSignal,
): Promise<void> {
  const timeout = timeoutSignal(opts.timeoutMs, what);
  const signal = anySignal(opts.signal, timeout.signal, stop);
  try {
    while (!holds()) {
      throwIfAborted(signal);
      await nextChange(source, signal);
    }
  } finally {
    timeout.dispose();
  }
}

type ChangeSource = { on(e: 'change', f: () => void): unknown; off(e: 'change', f: () => void): unknown };

/** Resolves at the object's next 'change' event, or when `signal` aborts (the caller re-checks). */
export function nextChange(source: ChangeSource, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      source.off('change', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    source.on('change', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
