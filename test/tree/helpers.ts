/** Builders and a tiny driver for tree tests: commands read like the requests they model. */
import { sessionId, type SessionId } from '../../src/util/brand.js';
import type {
  CheckCommand,
  ClientHeader,
  Command,
  CreateCommand,
  CreateMode,
  DeleteCommand,
  MultiOp,
  SetCommand,
} from '../../src/tree/commands.js';
import { DataTree, type ApplyOutcome } from '../../src/tree/data-tree.js';
import type { TreeError } from '../../src/tree/errors.js';
import { treeLimits, type TreeLimits } from '../../src/tree/limits.js';
import type { CommandResult } from '../../src/tree/results.js';

const enc = new TextEncoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

export function create(
  path: string,
  opts: { data?: string; mode?: CreateMode; session?: bigint; ttlMs?: number; parents?: boolean } = {},
): CreateCommand {
  return {
    type: 'create',
    path,
    data: bytes(opts.data ?? ''),
    mode: opts.mode ?? 'persistent',
    sessionId: sessionId(opts.session ?? 0n),
    ttlMs: opts.ttlMs ?? 0,
    createParents: opts.parents ?? false,
  };
}
export const set = (path: string, data: string, expectedVersion = -1): SetCommand => ({
  type: 'set',
  path,
  data: bytes(data),
  expectedVersion,
});
export const del = (path: string, expectedVersion = -1, recursive = false): DeleteCommand => ({
  type: 'delete',
  path,
  expectedVersion,
  recursive,
});
export const check = (path: string, expectedVersion: number): CheckCommand => ({
  type: 'check',
  path,
  expectedVersion,
});
export const multi = (...ops: MultiOp[]): Command => ({ type: 'multi', ops });
export const openSession = (timeoutMs = 10_000): Command => ({ type: 'openSession', timeoutMs });
export const closeSession = (id: bigint): Command => ({ type: 'closeSession', sessionId: sessionId(id) });
export const expire = (...ids: bigint[]): Command => ({
  type: 'expireSessions',
  sessionIds: ids.map(sessionId),
});

/** Applies commands at increasing revisions and a controllable clock. */
export class Driver {
  readonly tree: DataTree;
  rev = 0;
  timeMs = 1_000_000;

  constructor(limits: Partial<TreeLimits> = {}) {
    this.tree = new DataTree(treeLimits(limits));
  }

  apply(command: Command, client?: ClientHeader, identity?: readonly string[]): ApplyOutcome {
    this.rev++;
    return this.tree.apply(
      {
        timeMs: this.timeMs,
        ...(client === undefined ? {} : { client }),
        ...(identity === undefined ? {} : { identity }),
        command,
      },
      this.rev,
    );
  }

  /** Applies and expects success. */
  ok(command: Command, client?: ClientHeader, identity?: readonly string[]): CommandResult {
    const o = this.apply(command, client, identity);
    if (!o.result.ok)
      throw new Error(`expected success, got ${o.result.error.code}: ${o.result.error.message}`);
    return o.result.value;
  }

  /** Applies and expects failure. */
  fail(command: Command, client?: ClientHeader, identity?: readonly string[]): TreeError {
    const o = this.apply(command, client, identity);
    if (o.result.ok) throw new Error(`expected failure, got ${JSON.stringify(o.result.value, replacer)}`);
    return o.result.error;
  }

  session(timeoutMs = 10_000): SessionId {
    const r = this.ok(openSession(timeoutMs));
    if (r.type !== 'openSession') throw new Error('not a session');
    return r.sessionId;
  }
}

export function replacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Every record but the meta record (which moves with each applied revision), as hex. */
export function state(tree: DataTree): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of tree.records()) if (!(k.length === 1 && k[0] === 0x6d)) m.set(hex(k), hex(v));
  return m;
}
