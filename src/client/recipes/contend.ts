/**
 * The queue of ephemeral-sequential nodes behind every lock-like recipe (ZooKeeper's lock
 * recipe): each contender creates `<dir>/_c_<uuid>-<kind>-NNNNNNNNNN` and, until its `plan`
 * says it holds the resource, watches exactly one node — its predecessor, or whichever node
 * the plan names — so a release wakes one waiter, not all of them (no herd effect).
 */
import type { ArborClient } from '../client.js';
import { NoNodeError, toArborError } from '../errors.js';
import type { Session } from '../session.js';
import type { WatchScope } from '../types.js';
import {
  abortReason,
  anySignal,
  createSequentialEphemeral,
  deleteIfExists,
  ensurePath,
  joinPath,
  sequenced,
  sessionEndSignal,
  throwIfAborted,
  timeoutSignal,
  waitForEvent,
} from './internal.js';

/** Every contender node carries this marker; other children of the directory are ignored. */
export const CONTENDER_MARKER = '_c_';

export type Plan =
  | { readonly type: 'acquired' }
  /** Wait for any event on `path` (node scope) or among its children (children scope), then re-plan. */
  | { readonly type: 'wait'; readonly path: string; readonly scope: WatchScope };

/** Decides from the ordered contender names (own index `mine`) whether we hold the resource. */
export type Planner = (ordered: readonly string[], mine: number, dir: string) => Plan;

export interface ContendOptions {
  readonly signal?: AbortSignal;
  /** Give up (DeadlineError) after this long; the contender node is deleted. */
  readonly timeoutMs?: number;
}

export interface Contender {
  readonly path: string;
  readonly name: string;
  /** The revision that created the node: the fencing token. */
  readonly createdRevision: number;
  /** True when the contender had to wait (some plans then announce their acquisition). */
  readonly waited: boolean;
}

/** `_c_<uuid>-<kind>-NNNNNNNNNN` → kind. */
export function kindOf(name: string): string {
  const stem = name.slice(0, -11);
  return stem.slice(stem.lastIndexOf('-') + 1);
}

/** Plan for an exclusive lock / leader latch: the first node holds it; others watch their predecessor. */
export const exclusive: Planner = (ordered, mine, dir) => {
  if (mine === 0) return { type: 'acquired' };
  return { type: 'wait', path: joinPath(dir, ordered[mine - 1] as string), scope: 'node' };
};

export async function contend(
  client: ArborClient,
  session: Session,
  dir: string,
  kind: string,
  data: Buffer,
  planner: Planner,
  opts: ContendOptions = {},
): Promise<Contender> {
  const c = await queueUp(client, session, dir, kind, data, planner, opts, false);
  if (c === undefined) throw new Error('queueUp gave up without noWait');
  return c;
}

/** Like contend, but returns undefined (and removes the node) instead of waiting. */
export function tryContend(
  client: ArborClient,
  session: Session,
  dir: string,
  kind: string,
  data: Buffer,
  planner: Planner,
): Promise<Contender | undefined> {
  return queueUp(client, session, dir, kind, data, planner, {}, true);
}

async function queueUp(
  client: ArborClient,
  session: Session,
  dir: string,
  kind: string,
  data: Buffer,
  planner: Planner,
  opts: ContendOptions,
  noWait: boolean,
): Promise<Contender | undefined> {
  const ended = sessionEndSignal(session);
  const timeout = timeoutSignal(opts.timeoutMs, `acquiring ${dir}`);
  const signal = anySignal(opts.signal, timeout.signal, ended.signal);
  let node: { path: string; name: string; createdRevision: number } | undefined;
  try {
    throwIfAborted(signal);
    await ensurePath(client, dir, signal);
    node = await createSequentialEphemeral(client, session, dir, kind, data, signal);
    let waited = false;
    for (;;) {
      throwIfAborted(signal);
      const { children, revision } = await client.children(dir, { signal });
      const ordered = sequenced(children, CONTENDER_MARKER);
      const mine = ordered.indexOf(node.name);
      if (mine < 0) {
        // Our node is gone: the session expired or someone deleted it.
        throwIfAborted(ended.signal);
        throw new NoNodeError(`contender node ${node.path} was deleted while waiting`);
      }
      const plan = planner(ordered, mine, dir);
      if (plan.type === 'acquired') return { ...node, waited };
      if (noWait) {
        await deleteIfExists(client, node.path);
        return undefined;
      }
      waited = true;
      await waitForEvent(client, plan.path, plan.scope, revision + 1, signal);
    }
  } catch (e) {
    if (node !== undefined) {
      const path = node.path;
      // Best effort: an orphan only delays others until the session ends.
      await deleteIfExists(client, path).catch(() => undefined);
    }
    throw signal.aborted ? abortReason(signal) : toArborError(e);
  } finally {
    timeout.dispose();
    ended.dispose();
  }
}
