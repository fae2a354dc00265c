/**
 * Differential test against a deliberately simple reference model: a Map from path to node,
 * children found by scanning keys, multi atomicity by copying the whole map. If the real tree
 * (indexes, undo log, incremental digest) and this model ever disagree, one of them is wrong.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command, CreateCommand, MultiOp, SweepTarget } from '../../src/tree/commands.js';
import { DataTree } from '../../src/tree/data-tree.js';
import type { TreeErrorCode } from '../../src/tree/errors.js';
import { DEFAULT_TREE_LIMITS } from '../../src/tree/limits.js';
import { validateCommand } from '../../src/tree/validate.js';
import { resolve, stepArb } from './gen.js';

interface MNode {
  data: string;
  version: number;
  cversion: number;
  owner: bigint;
  kind: string;
  ttlMs: number;
  seq: number;
  cRev: number;
  mRev: number;
  pRev: number;
  mMs: number;
}

type MOut = { ok: true; paths: string[] } | { ok: false; code: TreeErrorCode; failedOp?: number };

class Fail extends Error {
  constructor(readonly code: TreeErrorCode) {
    super(code);
  }
}

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

class Model {
  nodes = new Map<string, MNode>([['/', this.node('persistent', '', 0n, 0, 0, 0)]]);
  sessions = new Map<bigint, number>();
  rev = 0;
  time = 0;

  private node(kind: string, data: string, owner: bigint, ttlMs: number, rev: number, time: number): MNode {
    return {
      data,
      version: 0,
      cversion: 0,
      owner,
      kind,
      ttlMs,
      seq: 0,
      cRev: rev,
      mRev: rev,
      pRev: rev,
      mMs: time,
    };
  }

  children(p: string): string[] {
    return [...this.nodes.keys()].filter((k) => k !== '/' && parentOf(k) === p);
  }

  private add(path: string, n: MNode): void {
    this.nodes.set(path, n);
    const par = this.nodes.get(parentOf(path)) as MNode;
    par.cversion++;
    par.pRev = this.rev;
  }

  private remove(path: string): void {
    this.nodes.delete(path);
    const par = this.nodes.get(parentOf(path));
    if (par !== undefined) {
      par.cversion++;
      par.pRev = this.rev;
    }
  }

  private snapshot(): [Map<string, MNode>, Map<bigint, number>] {
    return [new Map([...this.nodes].map(([k, v]) => [k, { ...v }])), new Map(this.sessions)];
  }

  apply(cmd: Command, rev: number, time: number): MOut {
    this.rev = rev;
    this.time = time;
    const v = validateCommand(cmd, DEFAULT_TREE_LIMITS);
    if (!v.ok)
      return {
        ok: false,
        code: v.error.code,
        ...(v.error.failedOp === undefined ? {} : { failedOp: v.error.failedOp }),
      };
    const [nodes, sessions] = this.snapshot();
    let i = 0;
    try {
      if (cmd.type === 'multi') {
        const paths: string[] = [];
        for (; i < cmd.ops.length; i++) paths.push(...this.op(cmd.ops[i] as MultiOp));
        return { ok: true, paths };
      }
      return { ok: true, paths: this.other(cmd) };
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      this.nodes = nodes;
      this.sessions = sessions;
      return cmd.type === 'multi' ? { ok: false, code: e.code, failedOp: i } : { ok: false, code: e.code };
    }
  }

  private other(cmd: Command): string[] {
    switch (cmd.type) {
      case 'openSession':
        this.sessions.set(BigInt(this.rev), cmd.timeoutMs);
        return [];
      case 'closeSession':
        if (!this.sessions.has(cmd.sessionId)) throw new Fail('sessionExpired');
        this.close(cmd.sessionId);
        return [];
      case 'expireSessions':
        for (const id of cmd.sessionIds) if (this.sessions.has(id)) this.close(id);
        return [];
      case 'sweep':
        return cmd.targets.filter((t) => this.sweep(t)).map((t) => t.path);
      // The model covers the tree without auth; ACL and user commands have their own tests.
      case 'multi':
      case 'setAcl':
      case 'addUser':
      case 'deleteUser':
      case 'setPassword':
      case 'grantRole':
      case 'revokeRole':
      case 'authEnable':
      case 'authDisable':
        throw new Error('unreachable');
      case 'create':
      case 'set':
      case 'delete':
      case 'check':
        return this.op(cmd);
    }
  }

  private close(id: bigint): void {
    for (const [p, n] of [...this.nodes]) if (n.kind === 'ephemeral' && n.owner === id) this.remove(p);
    this.sessions.delete(id);
  }

  private sweep(t: SweepTarget): boolean {
    const n = this.nodes.get(t.path);
    if (n === undefined || this.children(t.path).length > 0 || n.version !== t.expectedVersion) return false;
    if (t.expectedChildrenVersion !== undefined && t.expectedChildrenVersion !== n.cversion) return false;
    if (!((n.kind === 'container' && n.cversion > 0) || (n.kind === 'ttl' && this.time - n.mMs >= n.ttlMs)))
      return false;
    this.remove(t.path);
    return true;
  }

  private op(op: MultiOp): string[] {
    const n = op.type === 'create' ? undefined : this.nodes.get(op.path);
    const checkVersion = (node: MNode, v: number): void => {
      if (v !== -1 && v !== node.version) throw new Fail('badVersion');
    };
    switch (op.type) {
      case 'create':
        return [this.create(op)];
      case 'set':
        if (n === undefined) throw new Fail('noNode');
        checkVersion(n, op.expectedVersion);
        n.data = hexOf(op.data);
        n.version++;
        n.mRev = this.rev;
        n.mMs = this.time;
        return [];
      case 'delete': {
        if (n === undefined) throw new Fail('noNode');
        checkVersion(n, op.expectedVersion);
        const below = [...this.nodes.keys()].filter((k) => k.startsWith(op.path + '/'));
        if (below.length > 0 && !op.recursive) throw new Fail('notEmpty');
        below.sort((a, b) => b.split('/').length - a.split('/').length);
        for (const k of below) this.remove(k);
        this.remove(op.path);
        return [];
      }
      case 'check':
        if (n === undefined) throw new Fail('noNode');
        checkVersion(n, op.expectedVersion);
        return [];
    }
  }

  private create(c: CreateCommand): string {
    const seq = c.mode === 'persistentSequential' || c.mode === 'ephemeralSequential';
    const eph = c.mode === 'ephemeral' || c.mode === 'ephemeralSequential';
    const parentPath = parentOf(seq ? c.path + '0000000000' : c.path);
    if (!seq && this.nodes.has(c.path)) throw new Fail('nodeExists');
    if (eph && !this.sessions.has(c.sessionId)) throw new Fail('sessionExpired');
    if (!this.nodes.has(parentPath)) {
      if (!c.createParents) throw new Fail('noNode');
      const missing: string[] = [];
      let cur = parentPath;
      while (!this.nodes.has(cur)) {
        missing.unshift(cur);
        cur = parentOf(cur);
      }
      if (this.nodes.get(cur)?.kind === 'ephemeral') throw new Fail('noChildrenForEphemerals');
      for (const m of missing) this.add(m, this.node('persistent', '', 0n, 0, this.rev, this.time));
    }
    const par = this.nodes.get(parentPath) as MNode;
    if (par.kind === 'ephemeral') throw new Fail('noChildrenForEphemerals');
    let path = c.path;
    if (seq) {
      path = c.path + String(par.seq).padStart(10, '0');
      par.seq++;
      if (this.nodes.has(path)) throw new Fail('nodeExists');
    }
    const kind = eph
      ? 'ephemeral'
      : c.mode === 'container'
        ? 'container'
        : c.mode === 'persistentWithTtl'
          ? 'ttl'
          : 'persistent';
    this.add(path, this.node(kind, hexOf(c.data), eph ? c.sessionId : 0n, c.ttlMs, this.rev, this.time));
    return path;
  }
}

function view(t: DataTree, paths: string[]): unknown {
  return paths.sort().map((p) => {
    const g = t.get(p);
    if (g === undefined) return [p, 'missing'];
    const s = g.stat;
    return [
      p,
      hexOf(g.data),
      s.version,
      s.childrenVersion,
      s.ephemeralOwner,
      s.numChildren,
      s.modifiedRevision,
      s.childrenRevision,
      s.createdRevision,
      s.modifiedMs,
    ];
  });
}

function modelView(m: Model): unknown {
  return [...m.nodes.keys()].sort().map((p) => {
    const n = m.nodes.get(p) as MNode;
    return [p, n.data, n.version, n.cversion, n.owner, m.children(p).length, n.mRev, n.pRev, n.cRev, n.mMs];
  });
}

describe('differential: DataTree vs a simple reference model', () => {
  it('agrees on every result, every node and every session', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 80 }), (steps) => {
        const tree = new DataTree();
        const model = new Model();
        let time = 1000;
        steps.forEach((s, i) => {
          time += s.advanceMs;
          const cmd = resolve(s, tree, time);
          const out = tree.apply({ timeMs: time, command: cmd }, i + 1);
          const exp = model.apply(cmd, i + 1, time);
          if (exp.ok) {
            expect(out.result.ok, JSON.stringify(!out.result.ok && out.result.error)).toBe(true);
            if (out.result.ok) {
              const v = out.result.value;
              const got =
                v.type === 'create'
                  ? [v.path]
                  : v.type === 'multi'
                    ? v.results.flatMap((r) => (r.type === 'create' ? [r.path] : []))
                    : v.type === 'sweep'
                      ? v.deleted
                      : [];
              expect(got).toEqual(exp.paths);
            }
          } else {
            expect(out.result.ok ? 'ok' : out.result.error.code).toBe(exp.code);
            expect(out.result.ok ? undefined : out.result.error.failedOp).toBe(exp.failedOp);
            expect(out.events).toEqual([]);
          }
          expect(view(tree, [...model.nodes.keys()])).toEqual(modelView(model));
          expect(tree.size()).toBe(model.nodes.size);
          expect(tree.sessions().map((x) => [x.sessionId, x.timeoutMs])).toEqual(
            [...model.sessions].sort(([a], [b]) => (a < b ? -1 : 1)),
          );
        });
      }),
      { numRuns: 200 },
    );
  });
});
