/**
 * The znode tree state machine (ZooKeeper's DataTree). It applies committed envelopes whose
 * time and ids were fixed by the leader, so every replica computes the same result; it knows
 * nothing of networks, clocks or disks. The server persists takeChanges() in the same batch as
 * the applied index and fans the returned events out to watchers.
 *
 * Every command runs against an undo log: on the first failure every mutation is reverted, so
 * a failed command (or multi) changes nothing — not the digest, not a counter, not the dirty set.
 */
import { sessionId as toSessionId, type SessionId } from '../util/brand.js';
import { assertNever, invariant, InvariantError } from '../util/assert.js';
import { DecodeError } from '../util/bytes.js';
import { err, ok, type Result } from '../util/result.js';
import {
  isEphemeral,
  isSequential,
  type AuthCommand,
  type Command,
  type CreateCommand,
  type Envelope,
  type MultiOp,
  type SetAclCommand,
  type SweepTarget,
} from './commands.js';
import { aclKey, OPEN_ACL, PERM, permits, permName, type Acl, type Identity } from './acl.js';
import {
  ADMIN_ROLE,
  AUTH_DISABLED,
  UserTable,
  userNamesOf,
  withRole,
  type AuthState,
  type UserEntry,
} from './auth-table.js';
import { Digest, Hasher } from './digest.js';
import { treeError, withFailedOp, type TreeError } from './errors.js';
import type { TreeEvent, TreeEventType } from './events.js';
import { DEFAULT_TREE_LIMITS, type TreeLimits } from './limits.js';
import { basename, join, parent, quote, ROOT, sequenceSuffix, SEQUENCE_DIGITS, type ZPath } from './path.js';
import { decodeResult, encodeResult } from './result-codec.js';
import type {
  AuthResult,
  CommandOutcome,
  CommandResult,
  CreateResult,
  OpResult,
  SetAclResult,
} from './results.js';
import {
  AUTH_KEY,
  clientKey,
  decodeAuth,
  decodeClient,
  decodeUser,
  encodeAuth,
  encodeUser,
  hashAuth,
  hashUser,
  userKey,
  decodeMeta,
  decodeNode,
  decodeSession,
  encodeClient,
  encodeMeta,
  encodeNode,
  encodeSession,
  hashClient,
  hashMeta,
  hashNodeData,
  hashNodeMeta,
  hashResult,
  hashSession,
  keyBytes,
  META_KEY,
  nodeKey,
  parseKey,
  resultKey,
  sessionKey,
} from './records.js';
import { ClientTable } from './client-table.js';
import { SessionTable, type SessionEntry, type SessionInfo } from './sessions.js';
import { statOf, type Stat } from './stat.js';
import { validateEnvelope } from './validate.js';
import { EMPTY, NO_OWNER, Znode, type ZnodeKind } from './znode.js';

export interface ApplyOutcome {
  readonly result: CommandOutcome;
  /** Empty for failed commands and for deduplicated retries. */
  readonly events: TreeEvent[];
}

/** One persisted record: value null means delete the key. */
export interface Mutation {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

type Undo = () => void;

const KIND_OF_MODE = {
  persistent: 'persistent',
  persistentSequential: 'persistent',
  ephemeral: 'ephemeral',
  ephemeralSequential: 'ephemeral',
  container: 'container',
  persistentWithTtl: 'ttl',
} as const satisfies Record<CreateCommand['mode'], ZnodeKind>;

const hex = (id: bigint): string => `0x${id.toString(16)}`;

export class DataTree {
  /** Every znode by full path. Invariant: every non-root path's parent is present and lists it. */
  private readonly nodes = new Map<string, Znode>();
  private readonly sessionTable = new SessionTable();
  private readonly clients: ClientTable;
  /** Sweep candidates (ZooKeeper's ContainerManager keeps the same two sets). */
  private readonly containers = new Set<ZPath>();
  private readonly ttls = new Set<ZPath>();
  private readonly digestSum = new Digest();
  /** Equal explicit ACLs share one frozen array (memory); not replicated state. */
  private readonly aclCache = new Map<string, Acl>();
  private readonly hasher = new Hasher();
  /** Internal keys changed since the last takeChanges(). */
  private readonly dirty = new Set<string>();
  /** Invariant: strictly increases with every apply. */
  private lastRevision = 0;
  /** Envelope time of the last idle-client scan (replicated, so scans happen at the same entries). */
  private lastClientScanMs = 0;
  private readonly users = new UserTable();
  /** Invariant: a record 'a' exists (and is in the digest) iff secret is non-empty. */
  private auth: AuthState = AUTH_DISABLED;

  // Per-command scratch state.
  private undo: Undo[] = [];
  private events: TreeEvent[] = [];
  private revision = 0;
  private timeMs = 0;
  /** The caller of the command being applied; undefined while auth is disabled (nothing is checked). */
  private who: Identity | undefined = undefined;

  constructor(readonly limits: TreeLimits = DEFAULT_TREE_LIMITS) {
    this.clients = new ClientTable({
      mark: (k) => this.dirty.add(k),
      digest: this.digestSum,
      hasher: this.hasher,
    });
    this.reset();
  }

  /** A tree rebuilt from persisted records (see restore). */
  static fromRecords(
    records: Iterable<readonly [Uint8Array, Uint8Array]>,
    limits: TreeLimits = DEFAULT_TREE_LIMITS,
  ): DataTree {
    const t = new DataTree(limits);
    t.restore(records);
    return t;
  }

  private reset(): void {
    this.nodes.clear();
    this.sessionTable.clear();
    this.clients.clear();
    this.containers.clear();
    this.ttls.clear();
    this.digestSum.reset();
    this.dirty.clear();
    this.lastRevision = 0;
    this.lastClientScanMs = 0;
    this.users.clear();
    this.auth = AUTH_DISABLED;
    const root = new Znode('persistent', EMPTY, 0, 0, NO_OWNER, 0);
    this.nodes.set(ROOT, root);
    this.digestSum.add(hashNodeMeta(this.hasher, ROOT, root));
    this.digestSum.add(hashNodeData(this.hasher, ROOT, EMPTY));
    this.digestSum.add(hashMeta(this.hasher, this.meta()));
    this.dirty.add(nodeKey(ROOT));
    this.dirty.add(META_KEY);
  }

  // ================================================================ reads

  get(path: string): { data: Uint8Array; stat: Stat } | undefined {
    const n = this.nodes.get(path);
    return n === undefined ? undefined : { data: n.data, stat: statOf(n) };
  }

  exists(path: string): Stat | undefined {
    const n = this.nodes.get(path);
    return n === undefined ? undefined : statOf(n);
  }

  /** Child names, sorted (by UTF-16 code unit order). */
  children(path: string): { names: string[]; stat: Stat } | undefined {
    const n = this.nodes.get(path);
    if (n === undefined) return undefined;
    const names = n.children === null ? [] : [...n.children].sort();
    return { names, stat: statOf(n) };
  }

  /** A node's ACL and ACL version (GetACL). */
  acl(path: string): { acl: Acl; stat: Stat } | undefined {
    const n = this.nodes.get(path);
    return n === undefined ? undefined : { acl: n.acl, stat: statOf(n) };
  }

  /** Whether ACLs and roles are enforced (replicated: the same answer on every member at a revision). */
  get authEnabled(): boolean {
    return this.auth.enabled;
  }

  /** The token-signing secret (empty until auth was first enabled). Never leaves the members. */
  get authSecret(): Uint8Array {
    return this.auth.secret;
  }

  user(name: string): UserEntry | undefined {
    return this.users.get(name);
  }

  userNames(): string[] {
    return this.users.names();
  }

  /** True when `who` holds `role` through one of its user principals. */
  hasRole(who: Identity, role: string): boolean {
    return this.users.hasRole(who, role);
  }

  /**
   * Whether `who` may do `perm` on a node with `acl`: an entry grants it, or the caller is an
   * admin (ZooKeeper's super user), or auth is disabled. Serving members check reads with this.
   */
  allowed(acl: Acl, who: Identity, perm: number): boolean {
    return !this.auth.enabled || permits(acl, who, perm) || this.users.hasRole(who, ADMIN_ROLE);
  }

  /** Number of znodes, the root included. */
  size(): number {
    return this.nodes.size;
  }

  /** The revision of the last applied envelope (0 for a fresh tree). */
  revisionApplied(): number {
    return this.lastRevision;
  }

  /** Live sessions, by id. A new leader gives each a fresh timeout. */
  sessions(): SessionInfo[] {
    return this.sessionTable.list();
  }

  /** The timeout of a live session; undefined when it is unknown or gone (keep-alive path: O(1)). */
  sessionTimeout(id: SessionId): number | undefined {
    return this.sessionTable.get(id)?.timeoutMs;
  }

  /** Paths of the ephemerals a session owns, sorted. */
  ephemeralsOf(id: SessionId): ZPath[] | undefined {
    const s = this.sessionTable.get(id);
    return s === undefined ? undefined : [...s.ephemerals].sort();
  }

  /** Order-independent 64-bit digest of all replicated state. Equal trees ⇒ equal digests. */
  digest(): bigint {
    return this.digestSum.value();
  }

  /**
   * Sweep targets at leader time nowMs (a pure query; the leader proposes them as a sweep):
   * empty containers that have had a child, and childless TTL nodes unmodified for ttlMs.
   */
  findSweepTargets(nowMs: number, max = 1000): SweepTarget[] {
    const out: SweepTarget[] = [];
    for (const p of this.containers) {
      if (out.length >= max) return out;
      const n = this.nodes.get(p) as Znode;
      if (n.numChildren === 0 && n.childrenVersion > 0) out.push(target(p, n));
    }
    for (const p of this.ttls) {
      if (out.length >= max) return out;
      const n = this.nodes.get(p) as Znode;
      if (n.numChildren === 0 && nowMs - n.modifiedMs >= n.ttlMs) out.push(target(p, n));
    }
    return out;
  }

  // ================================================================ apply

  /**
   * Applies one committed envelope at `revision` (its Raft log index). Invariant: revisions
   * strictly increase. Throws only on a broken invariant.
   */
  apply(env: Envelope, revision: number): ApplyOutcome {
    invariant(
      Number.isSafeInteger(revision) && revision > this.lastRevision,
      `apply at revision ${revision} after ${this.lastRevision}: revisions must strictly increase`,
    );
    this.revision = revision;
    this.timeMs = env.timeMs;
    this.events = [];
    // Decided by the replicated flag, never by the proposer: an entry proposed before auth was
    // enabled and applied after it is checked as anonymous, on every replica alike.
    this.who = this.auth.enabled ? (env.identity ?? []) : undefined;
    let outcome: ApplyOutcome;
    let scanMs = this.lastClientScanMs;
    const valid = validateEnvelope(env, this.limits);
    if (!valid.ok) {
      outcome = { result: valid, events: [] };
    } else {
      scanMs = this.scanIdleClients(env.timeMs);
      outcome = this.applyValid(env);
    }
    this.setMeta(revision, scanMs);
    this.events = [];
    this.who = undefined;
    return outcome;
  }

  private applyValid(env: Envelope): ApplyOutcome {
    const c = env.client;
    if (c !== undefined) {
      const seen = this.clients.lookup(c.clientId, c.seq, c.firstUnacked);
      switch (seen.type) {
        case 'cached':
          // §6.3: a retry of an applied command gets the original answer and changes nothing.
          return { result: decodeResult(seen.bytes), events: [] };
        case 'forgotten':
          return {
            result: err(
              treeError(
                'duplicateUnknown',
                `request ${c.seq} of client ${quote(c.clientId)} was already applied but its result is no longer kept ` +
                  `(results below ${seen.floor} are dropped): do not retry acknowledged requests; read the state instead`,
              ),
            ),
            events: [],
          };
        case 'outOfOrder':
          return {
            result: err(
              treeError(
                'outOfOrder',
                `request ${c.seq} of client ${quote(c.clientId)} would apply out of order (last applied: ${seen.highest}, ` +
                  `first unanswered: ${c.firstUnacked}); it was not applied: retry the client's requests in order`,
              ),
            ),
            events: [],
          };
        case 'new':
          break;
        default:
          assertNever(seen, 'client lookup');
      }
    }
    const result = this.runCommand(env.command);
    const events = result.ok ? this.events : [];
    if (c !== undefined) {
      this.clients.record(
        c.clientId,
        c.seq,
        c.firstUnacked,
        encodeResult(result).slice(),
        env.timeMs,
        this.limits.maxResultsPerClient,
      );
    }
    return { result, events };
  }

  /** Runs a command under an undo log; on failure reverts every mutation. */
  private runCommand(cmd: Command): CommandOutcome {
    this.undo = [];
    let r: CommandOutcome;
    try {
      r = this.execute(cmd);
    } catch (e) {
      this.rollback();
      throw e;
    }
    if (!r.ok) this.rollback();
    this.undo = [];
    return r;
  }

  private rollback(): void {
    for (let i = this.undo.length - 1; i >= 0; i--) (this.undo[i] as Undo)();
    this.undo = [];
    this.events = [];
  }

  private execute(c: Command): CommandOutcome {
    switch (c.type) {
      case 'create':
      case 'set':
      case 'delete':
      case 'check':
        return this.op(c);
      case 'multi': {
        const results: OpResult[] = [];
        for (let i = 0; i < c.ops.length; i++) {
          const r = this.op(c.ops[i] as MultiOp);
          if (!r.ok) return err(withFailedOp(r.error, i));
          results.push(r.value);
        }
        return ok({ type: 'multi', results });
      }
      case 'openSession': {
        const id = toSessionId(BigInt(this.revision));
        invariant(!this.sessionTable.has(id), `session ${hex(id)} already exists`);
        this.openSession(id, c.timeoutMs);
        return ok({ type: 'openSession', sessionId: id, timeoutMs: c.timeoutMs });
      }
      case 'closeSession':
        if (!this.sessionTable.has(c.sessionId)) {
          return err(
            treeError(
              'sessionExpired',
              `session ${hex(c.sessionId)} is not open (already closed or expired): nothing to close`,
            ),
          );
        }
        this.closeSession(c.sessionId);
        return ok({ type: 'closeSession' });
      case 'expireSessions': {
        const expired: SessionId[] = [];
        for (const id of c.sessionIds) {
          if (!this.sessionTable.has(id)) continue; // closed meanwhile (or listed twice)
          this.closeSession(id);
          expired.push(id);
        }
        return ok({ type: 'expireSessions', expired });
      }
      case 'sweep': {
        const deleted: ZPath[] = [];
        for (const t of c.targets) if (this.sweepOne(t)) deleted.push(t.path as ZPath);
        return ok({ type: 'sweep', deleted });
      }
      case 'setAcl':
        return this.setAcl(c);
      case 'addUser':
      case 'deleteUser':
      case 'setPassword':
      case 'grantRole':
      case 'revokeRole':
      case 'authEnable':
      case 'authDisable':
        return this.authCommand(c);
      default:
        return assertNever(c, 'command');
    }
  }

  private op(c: MultiOp): Result<OpResult, TreeError> {
    switch (c.type) {
      case 'create':
        return this.create(c);
      case 'set': {
        const n = this.nodes.get(c.path);
        if (n === undefined) return err(noNode(c.path));
        const denied = this.check(n.acl, PERM.write, c.path);
        if (denied !== undefined) return err(denied);
        const v = checkVersion(c.path, n, c.expectedVersion);
        if (v !== undefined) return err(v);
        this.setData(c.path as ZPath, n, c.data);
        this.emit('updated', c.path as ZPath, n);
        return ok({ type: 'set', stat: statOf(n) });
      }
      case 'delete': {
        const n = this.nodes.get(c.path);
        if (n === undefined) return err(noNode(c.path));
        const denied = this.checkDelete(c.path as ZPath, n, c.recursive);
        if (denied !== undefined) return err(denied);
        const v = checkVersion(c.path, n, c.expectedVersion);
        if (v !== undefined) return err(v);
        if (n.numChildren > 0 && !c.recursive) {
          return err(
            treeError(
              'notEmpty',
              `${quote(c.path)} has ${n.numChildren} children: delete them first or set recursive`,
              c.path,
            ),
          );
        }
        this.deleteSubtree(c.path as ZPath, n);
        return ok({ type: 'delete' });
      }
      case 'check': {
        const n = this.nodes.get(c.path);
        if (n === undefined) return err(noNode(c.path));
        const denied = this.check(n.acl, PERM.read, c.path);
        if (denied !== undefined) return err(denied);
        const v = checkVersion(c.path, n, c.expectedVersion);
        return v === undefined ? ok({ type: 'check' }) : err(v);
      }
      default:
        return assertNever(c, 'op');
    }
  }

  private create(c: CreateCommand): Result<CreateResult, TreeError> {
    const sequential = isSequential(c.mode);
    // A sequential path is a prefix: its parent is that of the full name.
    const parentPath = sequential
      ? parent((c.path + '0'.repeat(SEQUENCE_DIGITS)) as ZPath)
      : parent(c.path as ZPath);
    if (!sequential && c.path === ROOT) return err(exists(c.path));
    if (!sequential && this.nodes.has(c.path)) return err(exists(c.path));
    const owner = isEphemeral(c.mode) ? c.sessionId : NO_OWNER;
    if (owner !== NO_OWNER && !this.sessionTable.has(owner)) {
      return err(
        treeError(
          'sessionExpired',
          `session ${hex(owner)} is not open (closed or expired): open a new session to own ephemerals`,
          c.path,
        ),
      );
    }
    let p = this.nodes.get(parentPath);
    if (p === undefined) {
      if (!c.createParents) {
        return err(
          treeError(
            'noNode',
            `parent ${quote(parentPath)} does not exist: create it first or set createParents`,
            parentPath,
          ),
        );
      }
      const made = this.createParents(parentPath);
      if (!made.ok) return made;
      p = made.value;
    } else {
      const denied = this.check(p.acl, PERM.create, parentPath);
      if (denied !== undefined) return err(denied);
    }
    if (p.kind === 'ephemeral') return err(noChildren(parentPath));
    let path = c.path as ZPath;
    if (sequential) {
      path = (c.path + sequenceSuffix(p.seq)) as ZPath;
      this.bumpSeq(parentPath, p);
      if (this.nodes.has(path)) return err(exists(path));
    }
    const full = this.checkChildLimit(parentPath, p);
    if (full !== undefined) return err(full);
    const data = c.data.length === 0 ? EMPTY : c.data.slice();
    const n = new Znode(KIND_OF_MODE[c.mode], data, this.revision, this.timeMs, owner, c.ttlMs);
    n.acl = c.acl === undefined ? p.acl : this.shareAcl(c.acl);
    this.insertNode(path, n);
    this.linkChild(parentPath, p, basename(path));
    this.emit('created', path, n);
    return ok({ type: 'create', path, stat: statOf(n) });
  }

  /** Creates the missing ancestors of (and including) `path` as persistent nodes. */
  private createParents(path: ZPath): Result<Znode, TreeError> {
    const missing: ZPath[] = [];
    let cur = path;
    let n = this.nodes.get(cur);
    while (n === undefined) {
      missing.push(cur);
      cur = parent(cur);
      n = this.nodes.get(cur);
    }
    if (n.kind === 'ephemeral') return err(noChildren(cur));
    // CREATE on the deepest existing ancestor covers the whole chain: each created parent
    // inherits that ancestor's ACL.
    const denied = this.check(n.acl, PERM.create, cur);
    if (denied !== undefined) return err(denied);
    for (let i = missing.length - 1; i >= 0; i--) {
      const p = missing[i] as ZPath;
      const full = this.checkChildLimit(cur, n);
      if (full !== undefined) return err(full);
      const child = new Znode('persistent', EMPTY, this.revision, this.timeMs, NO_OWNER, 0);
      child.acl = n.acl;
      this.insertNode(p, child);
      this.linkChild(cur, n, basename(p));
      this.emit('created', p, child);
      cur = p;
      n = child;
    }
    return ok(n);
  }

  // ================================================================ access control

  /** Undefined when allowed. Nothing is checked while auth is disabled (this.who undefined). */
  private check(acl: Acl, perm: number, path: string): TreeError | undefined {
    const who = this.who;
    if (who === undefined || permits(acl, who, perm) || this.users.hasRole(who, ADMIN_ROLE)) return undefined;
    return denied(who, `${permName(perm)} on ${quote(path)}`, path);
  }

  /**
   * ZooKeeper's rule: deleting a node needs DELETE on its parent. A recursive delete removes
   * every descendant the same way, so it needs DELETE on every node of the subtree that has
   * children (checked before anything changes).
   */
  private checkDelete(path: ZPath, n: Znode, recursive: boolean): TreeError | undefined {
    if (this.who === undefined) return undefined;
    const pp = parent(path);
    const first = this.check((this.nodes.get(pp) as Znode).acl, PERM.delete, pp);
    if (first !== undefined || !recursive) return first;
    const stack: [ZPath, Znode][] = [[path, n]];
    while (stack.length > 0) {
      const [p, node] = stack.pop() as [ZPath, Znode];
      if (node.children === null) continue;
      const d = this.check(node.acl, PERM.delete, p);
      if (d !== undefined) return d;
      for (const name of node.children) {
        const cp = join(p, name);
        stack.push([cp, this.nodes.get(cp) as Znode]);
      }
    }
    return undefined;
  }

  /** Equal ACLs share one array across nodes, as ZooKeeper's ACL cache does. */
  private shareAcl(acl: Acl): Acl {
    const key = aclKey(acl);
    let shared = this.aclCache.get(key);
    if (shared === undefined) {
      shared = Object.freeze(acl.map((e) => Object.freeze({ scheme: e.scheme, id: e.id, perms: e.perms })));
      // Bounded so hostile clients with endless distinct ACLs cannot grow it; beyond, no sharing.
      if (this.aclCache.size < 10_000) this.aclCache.set(key, shared);
    }
    return shared;
  }

  private setAcl(c: SetAclCommand): Result<SetAclResult, TreeError> {
    const n = this.nodes.get(c.path);
    if (n === undefined) return err(noNode(c.path));
    const d = this.check(n.acl, PERM.admin, c.path);
    if (d !== undefined) return err(d);
    if (c.expectedAclVersion !== -1 && c.expectedAclVersion !== n.aclVersion) {
      return err(
        treeError(
          'badVersion',
          `the ACL of ${quote(c.path)} is at version ${n.aclVersion}, not the expected ${c.expectedAclVersion}: read it again and retry, or pass -1`,
          c.path,
        ),
      );
    }
    const path = c.path as ZPath;
    const { acl, aclVersion } = n;
    this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
    n.acl = this.shareAcl(c.acl);
    n.aclVersion++;
    this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    this.markDirty(nodeKey(path));
    this.undo.push(() => {
      this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
      n.acl = acl;
      n.aclVersion = aclVersion;
      this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    });
    return ok({ type: 'setAcl', stat: statOf(n) });
  }

  /** User management and the auth switch (etcd's rules: admin-only once auth is on; never lock everyone out). */
  private authCommand(c: AuthCommand): Result<AuthResult, TreeError> {
    const who = this.who;
    const isAdmin = who === undefined || this.users.hasRole(who, ADMIN_ROLE);
    // A user may change their own password without being an admin.
    const self = c.type === 'setPassword' && who !== undefined && userNamesOf(who).includes(c.name);
    if (!isAdmin && !self) {
      return err(denied(who ?? [], `the ${ADMIN_ROLE} role (needed for ${c.type})`));
    }
    switch (c.type) {
      case 'addUser':
        if (this.users.has(c.name))
          return err(
            treeError(
              'userExists',
              `user ${quote(c.name)} already exists: pick another name or change its password`,
            ),
          );
        this.putUser(c.name, { credential: c.credential, roles: [...new Set(c.roles)].sort() });
        break;
      case 'deleteUser': {
        if (!this.users.has(c.name)) return err(noUser(c.name));
        const last = this.lastAdmin(c.name);
        if (last !== undefined) return err(last);
        this.putUser(c.name, undefined);
        break;
      }
      case 'setPassword': {
        const u = this.users.get(c.name);
        if (u === undefined) return err(noUser(c.name));
        this.putUser(c.name, { credential: c.credential, roles: u.roles });
        break;
      }
      case 'grantRole':
      case 'revokeRole': {
        const u = this.users.get(c.name);
        if (u === undefined) return err(noUser(c.name));
        if (c.type === 'revokeRole' && c.role === ADMIN_ROLE) {
          const last = this.lastAdmin(c.name);
          if (last !== undefined) return err(last);
        }
        const roles =
          c.type === 'grantRole' ? withRole(u.roles, c.role) : u.roles.filter((r) => r !== c.role);
        if (roles !== u.roles) this.putUser(c.name, { credential: u.credential, roles });
        break;
      }
      case 'authEnable':
        if (this.users.withRole(ADMIN_ROLE).length === 0) {
          return err(
            treeError(
              'noAdmin',
              `auth cannot be enabled without a user holding the ${ADMIN_ROLE} role (nobody could manage it): add one first, e.g. arbor user add root --role ${ADMIN_ROLE}`,
            ),
          );
        }
        // Already on: keep the secret, so tokens issued meanwhile stay valid (a retried enable is harmless).
        if (!this.auth.enabled) this.setAuth({ enabled: true, secret: c.secret.slice() });
        break;
      case 'authDisable':
        if (this.auth.enabled) this.setAuth({ enabled: false, secret: this.auth.secret });
        break;
      default:
        return assertNever(c, 'auth command');
    }
    return ok({ type: c.type });
  }

  /** Refuses to remove the last admin while auth is enabled (nobody could turn it off again). */
  private lastAdmin(name: string): TreeError | undefined {
    if (!this.auth.enabled) return undefined;
    const admins = this.users.withRole(ADMIN_ROLE);
    if (admins.length === 1 && admins[0] === name) {
      return treeError(
        'noAdmin',
        `${quote(name)} is the last user with the ${ADMIN_ROLE} role while auth is enabled: grant the role to another user first, or disable auth`,
      );
    }
    return undefined;
  }

  private putUser(name: string, entry: UserEntry | undefined): void {
    const prev = this.users.put(name, entry);
    if (prev !== undefined) this.digestSum.sub(hashUser(this.hasher, name, prev));
    if (entry !== undefined) this.digestSum.add(hashUser(this.hasher, name, entry));
    this.markDirty(userKey(name));
    this.undo.push(() => {
      this.users.put(name, prev);
      if (entry !== undefined) this.digestSum.sub(hashUser(this.hasher, name, entry));
      if (prev !== undefined) this.digestSum.add(hashUser(this.hasher, name, prev));
    });
  }

  private setAuth(next: AuthState): void {
    const prev = this.auth;
    if (prev.secret.length > 0) this.digestSum.sub(hashAuth(this.hasher, prev));
    this.auth = next;
    if (next.secret.length > 0) this.digestSum.add(hashAuth(this.hasher, next));
    this.markDirty(AUTH_KEY);
    this.undo.push(() => {
      if (next.secret.length > 0) this.digestSum.sub(hashAuth(this.hasher, next));
      this.auth = prev;
      if (prev.secret.length > 0) this.digestSum.add(hashAuth(this.hasher, prev));
    });
  }

  private checkChildLimit(parentPath: ZPath, p: Znode): TreeError | undefined {
    if (p.numChildren < this.limits.maxChildren) return undefined;
    return treeError(
      'limitExceeded',
      `${quote(parentPath)} already has ${p.numChildren} children, the limit: delete some or use another parent`,
      parentPath,
    );
  }

  /** Deletes n and everything below it, children before parents, siblings in name order. */
  private deleteSubtree(path: ZPath, n: Znode): void {
    if (n.children !== null && n.children.size > 0) {
      for (const name of [...n.children].sort()) {
        const cp = join(path, name);
        this.deleteSubtree(cp, this.nodes.get(cp) as Znode);
      }
    }
    this.deleteLeaf(path, n);
  }

  private deleteLeaf(path: ZPath, n: Znode): void {
    invariant(n.numChildren === 0, `deleting ${path} with children`);
    const pp = parent(path);
    this.removeNode(path, n);
    this.unlinkChild(pp, this.nodes.get(pp) as Znode, basename(path));
    this.emit('deleted', path, n);
  }

  private openSession(id: SessionId, timeoutMs: number): void {
    this.sessionTable.open(id, timeoutMs);
    this.digestSum.add(hashSession(this.hasher, id, timeoutMs));
    this.markDirty(sessionKey(id));
    this.undo.push(() => {
      this.sessionTable.remove(id);
      this.digestSum.sub(hashSession(this.hasher, id, timeoutMs));
    });
  }

  /** Deletes the session's ephemerals (in path order: deterministic events) and the session. */
  private closeSession(id: SessionId): void {
    const s = this.sessionTable.get(id) as SessionEntry;
    for (const p of [...s.ephemerals].sort()) this.deleteLeaf(p, this.nodes.get(p) as Znode);
    this.sessionTable.remove(id);
    this.digestSum.sub(hashSession(this.hasher, id, s.timeoutMs));
    this.markDirty(sessionKey(id));
    this.undo.push(() => {
      this.sessionTable.put(id, s);
      this.digestSum.add(hashSession(this.hasher, id, s.timeoutMs));
    });
  }

  /** Re-checks a leader-chosen target at apply time; a target that changed since is skipped. */
  private sweepOne(t: SweepTarget): boolean {
    const n = this.nodes.get(t.path);
    if (n === undefined || n.numChildren > 0 || n.version !== t.expectedVersion) return false;
    if (t.expectedChildrenVersion !== undefined && n.childrenVersion !== t.expectedChildrenVersion)
      return false;
    const eligible =
      (n.kind === 'container' && n.childrenVersion > 0) ||
      (n.kind === 'ttl' && this.timeMs - n.modifiedMs >= n.ttlMs);
    if (!eligible) return false;
    this.deleteLeaf(t.path as ZPath, n);
    return true;
  }

  /** Returns the new lastClientScanMs (setMeta records it). */
  private scanIdleClients(timeMs: number): number {
    // A full scan, but only every clientIdleMs/10 of envelope time; which entries scan is part
    // of the replicated state (lastClientScanMs), so all replicas evict at the same entry.
    if (timeMs - this.lastClientScanMs < Math.max(1, Math.floor(this.limits.clientIdleMs / 10))) {
      return this.lastClientScanMs;
    }
    this.clients.evictIdle(timeMs, this.limits.clientIdleMs);
    return timeMs;
  }

  // ================================================================ mutation primitives
  // Each keeps the digest, dirty set and indexes in step, and pushes its inverse on the undo log.

  private markDirty(key: string): void {
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.undo.push(() => this.dirty.delete(key));
  }

  private emit(type: TreeEventType, path: ZPath, n: Znode): void {
    this.events.push({ type, path, revision: this.revision, data: n.data, stat: statOf(n), acl: n.acl });
  }

  private insertNode(path: ZPath, n: Znode): void {
    this.nodes.set(path, n);
    this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    this.digestSum.add(hashNodeData(this.hasher, path, n.data));
    this.index(path, n, true);
    this.markDirty(nodeKey(path));
    this.undo.push(() => {
      this.nodes.delete(path);
      this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
      this.digestSum.sub(hashNodeData(this.hasher, path, n.data));
      this.index(path, n, false);
    });
  }

  private removeNode(path: ZPath, n: Znode): void {
    this.nodes.delete(path);
    this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
    this.digestSum.sub(hashNodeData(this.hasher, path, n.data));
    this.index(path, n, false);
    this.markDirty(nodeKey(path));
    this.undo.push(() => {
      this.nodes.set(path, n);
      this.digestSum.add(hashNodeMeta(this.hasher, path, n));
      this.digestSum.add(hashNodeData(this.hasher, path, n.data));
      this.index(path, n, true);
    });
  }

  /** Secondary indexes: sweep candidates and session ephemerals. */
  private index(path: ZPath, n: Znode, add: boolean): void {
    switch (n.kind) {
      case 'persistent':
        return;
      case 'container':
        if (add) this.containers.add(path);
        else this.containers.delete(path);
        return;
      case 'ttl':
        if (add) this.ttls.add(path);
        else this.ttls.delete(path);
        return;
      case 'ephemeral': {
        const s = this.sessionTable.get(toSessionId(n.ephemeralOwner));
        invariant(s !== undefined, `ephemeral ${path} owned by unknown session ${hex(n.ephemeralOwner)}`);
        if (add) s.ephemerals.add(path);
        else s.ephemerals.delete(path);
        return;
      }
      default:
        assertNever(n.kind, 'znode kind');
    }
  }

  /** Changes only counters (not data): rehash the meta part, remember the old counters. */
  private touchCounters(path: ZPath, n: Znode, change: () => void): void {
    const { childrenVersion, childrenRevision, seq } = n;
    this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
    change();
    this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    this.markDirty(nodeKey(path));
    this.undo.push(() => {
      this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
      n.childrenVersion = childrenVersion;
      n.childrenRevision = childrenRevision;
      n.seq = seq;
      this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    });
  }

  private linkChild(path: ZPath, p: Znode, name: string): void {
    this.touchCounters(path, p, () => {
      if (p.children === null) p.children = new Set();
      p.children.add(name);
      p.childrenVersion++;
      p.childrenRevision = this.revision;
    });
    this.undo.push(() => {
      const ch = p.children as Set<string>;
      ch.delete(name);
      if (ch.size === 0) p.children = null;
    });
  }

  private unlinkChild(path: ZPath, p: Znode, name: string): void {
    this.touchCounters(path, p, () => {
      const ch = p.children as Set<string>;
      ch.delete(name);
      if (ch.size === 0) p.children = null; // leaves hold no Set (memory)
      p.childrenVersion++;
      p.childrenRevision = this.revision;
    });
    this.undo.push(() => {
      if (p.children === null) p.children = new Set();
      p.children.add(name);
    });
  }

  private bumpSeq(path: ZPath, p: Znode): void {
    this.touchCounters(path, p, () => {
      p.seq++;
    });
  }

  private setData(path: ZPath, n: Znode, data: Uint8Array): void {
    const { data: oldData, version, modifiedRevision, modifiedMs } = n;
    const newData = data.length === 0 ? EMPTY : data.slice();
    this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
    this.digestSum.sub(hashNodeData(this.hasher, path, oldData));
    n.data = newData;
    n.version++;
    n.modifiedRevision = this.revision;
    n.modifiedMs = this.timeMs;
    this.digestSum.add(hashNodeMeta(this.hasher, path, n));
    this.digestSum.add(hashNodeData(this.hasher, path, newData));
    this.markDirty(nodeKey(path));
    this.undo.push(() => {
      this.digestSum.sub(hashNodeMeta(this.hasher, path, n));
      this.digestSum.sub(hashNodeData(this.hasher, path, newData));
      n.data = oldData;
      n.version = version;
      n.modifiedRevision = modifiedRevision;
      n.modifiedMs = modifiedMs;
      this.digestSum.add(hashNodeMeta(this.hasher, path, n));
      this.digestSum.add(hashNodeData(this.hasher, path, oldData));
    });
  }

  private meta(): { revision: number; lastClientScanMs: number } {
    return { revision: this.lastRevision, lastClientScanMs: this.lastClientScanMs };
  }

  private setMeta(revision: number, lastClientScanMs: number): void {
    this.digestSum.sub(hashMeta(this.hasher, this.meta()));
    this.lastRevision = revision;
    this.lastClientScanMs = lastClientScanMs;
    this.digestSum.add(hashMeta(this.hasher, this.meta()));
    this.dirty.add(META_KEY);
  }

  // ================================================================ persistence

  /** Every record changed since the last call, with its final value (null: deleted). */
  takeChanges(): Mutation[] {
    const out: Mutation[] = [];
    for (const k of this.dirty) out.push({ key: keyBytes(k), value: this.valueOf(k) });
    this.dirty.clear();
    return out;
  }

  private valueOf(key: string): Uint8Array | null {
    switch (key.charCodeAt(0)) {
      case 0x6d:
        return encodeMeta(this.meta());
      case 0x6e: {
        const n = this.nodes.get(key.slice(1));
        return n === undefined ? null : encodeNode(n);
      }
      case 0x73: {
        const s = this.sessionTable.get(toSessionId(BigInt(key.slice(1))));
        return s === undefined ? null : encodeSession(s.timeoutMs);
      }
      case 0x63: {
        const c = this.clients.get(key.slice(1));
        return c === undefined ? null : encodeClient(c);
      }
      case 0x72: {
        const nul = key.lastIndexOf('\u0000');
        const c = this.clients.get(key.slice(1, nul));
        return c?.results.get(Number(key.slice(nul + 1))) ?? null;
      }
      case 0x61:
        return this.auth.secret.length === 0 ? null : encodeAuth(this.auth);
      case 0x75: {
        const u = this.users.get(key.slice(1));
        return u === undefined ? null : encodeUser(u);
      }
      default:
        throw new InvariantError(`unknown dirty key ${key}`);
    }
  }

  /** Every record of the current state (for a snapshot image). */
  *records(): Generator<[Uint8Array, Uint8Array]> {
    yield [keyBytes(META_KEY), encodeMeta(this.meta())];
    for (const [p, n] of this.nodes) yield [keyBytes(nodeKey(p)), encodeNode(n)];
    for (const [id, s] of this.sessionTable.entries())
      yield [keyBytes(sessionKey(id)), encodeSession(s.timeoutMs)];
    for (const [id, c] of this.clients.entries()) {
      yield [keyBytes(clientKey(id)), encodeClient(c)];
      for (const seq of c.seqs) yield [keyBytes(resultKey(id, seq)), c.results.get(seq) as Uint8Array];
    }
    if (this.auth.secret.length > 0) yield [keyBytes(AUTH_KEY), encodeAuth(this.auth)];
    for (const [name, u] of this.users.entries()) yield [keyBytes(userKey(name)), encodeUser(u)];
  }

  /**
   * Replaces the whole state with the one in `records` (any order). Children sets, indexes and
   * the digest are rebuilt. Throws DecodeError on a malformed record, InvariantError on records
   * that do not form a tree. Afterwards takeChanges() is empty.
   */
  restore(records: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    this.beginRestore();
    this.restoreRecords(records);
    this.finishRestore();
  }

  /**
   * restore() in steps, for records that arrive in batches: beginRestore(), restoreRecords()
   * for each batch, finishRestore(). A member restoring a million znodes from disk thus never
   * holds every record and every znode at once. The tree is unusable until finishRestore().
   */
  beginRestore(): void {
    this.reset();
    this.aclCache.clear();
    this.nodes.clear();
    this.digestSum.reset();
  }

  restoreRecords(records: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    const h = this.hasher;
    const d = this.digestSum;
    for (const [k, v] of records) {
      const key = parseKey(k);
      switch (key.type) {
        case 'meta': {
          const m = decodeMeta(v);
          this.lastRevision = m.revision;
          this.lastClientScanMs = m.lastClientScanMs;
          break;
        }
        case 'node': {
          const n = decodeNode(v);
          if (n.acl !== OPEN_ACL) n.acl = this.shareAcl(n.acl);
          this.nodes.set(key.path, n);
          break;
        }
        case 'auth': {
          const a = decodeAuth(v);
          if (a.secret.length === 0) throw new DecodeError('auth record without a secret');
          this.auth = a;
          d.add(hashAuth(h, a));
          break;
        }
        case 'user': {
          const u = decodeUser(v);
          this.users.put(key.name, u);
          d.add(hashUser(h, key.name, u));
          break;
        }
        case 'session':
          this.sessionTable.open(key.sessionId, decodeSession(v));
          d.add(hashSession(h, key.sessionId, decodeSession(v)));
          break;
        case 'client':
          this.clients.restoreClient(key.clientId, decodeClient(v));
          break;
        case 'result':
          decodeResult(v); // reject garbage now rather than at the retry
          this.clients.restoreResult(key.clientId, key.seq, v.slice());
          break;
        default:
          assertNever(key, 'record key');
      }
    }
  }

  finishRestore(): void {
    const h = this.hasher;
    const d = this.digestSum;
    d.add(hashMeta(h, this.meta()));
    if (!this.nodes.has(ROOT)) {
      this.nodes.set(ROOT, new Znode('persistent', EMPTY, 0, 0, NO_OWNER, 0));
    }
    for (const [p, n] of this.nodes) {
      const path = p as ZPath;
      d.add(hashNodeMeta(h, path, n));
      d.add(hashNodeData(h, path, n.data));
      if (path !== ROOT) {
        const par = this.nodes.get(parent(path));
        if (par === undefined) throw new InvariantError(`corrupt tree records: ${path} has no parent`);
        if (par.kind === 'ephemeral')
          throw new InvariantError(`corrupt tree records: ${path} under an ephemeral`);
        if (par.children === null) par.children = new Set();
        par.children.add(basename(path));
      }
      if (n.kind === 'ephemeral' && !this.sessionTable.has(toSessionId(n.ephemeralOwner))) {
        throw new InvariantError(
          `corrupt tree records: ephemeral ${path} of unknown session ${hex(n.ephemeralOwner)}`,
        );
      }
      this.index(path, n, true);
    }
    for (const [id, c] of this.clients.entries()) {
      d.add(hashClient(h, id, c));
      for (const seq of c.seqs) {
        if (seq < c.floor)
          throw new DecodeError(`corrupt client records: ${id} keeps seq ${seq} below ${c.floor}`);
        d.add(hashResult(h, id, seq, c.results.get(seq) as Uint8Array));
      }
    }
    this.dirty.clear();
    this.undo = [];
  }
}

function target(path: ZPath, n: Znode): SweepTarget {
  return { path, expectedVersion: n.version, expectedChildrenVersion: n.childrenVersion };
}

function noNode(path: string): TreeError {
  return treeError('noNode', `${quote(path)} does not exist: create it first or check the path`, path);
}

function exists(path: string): TreeError {
  return treeError(
    'nodeExists',
    `${quote(path)} already exists: use set to change it, or another path`,
    path,
  );
}

function noChildren(path: string): TreeError {
  return treeError(
    'noChildrenForEphemerals',
    `${quote(path)} is ephemeral and cannot have children: create them under a persistent node`,
    path,
  );
}

function checkVersion(path: string, n: Znode, expected: number): TreeError | undefined {
  if (expected === -1 || expected === n.version) return undefined;
  return treeError(
    'badVersion',
    `${quote(path)} is at version ${n.version}, not the expected ${expected}: read it again and retry, or pass -1`,
    path,
  );
}

export type { CommandResult };

function noUser(name: string): TreeError {
  return treeError(
    'noUser',
    `user ${quote(name)} does not exist: check the name (arbor user add creates one)`,
  );
}

/** Says who was refused what, and what to do about it. */
function denied(who: Identity, what: string, path?: string): TreeError {
  const as = who.length === 0 ? 'an anonymous caller' : who.join(', ');
  return treeError(
    'permissionDenied',
    `${as} lacks ${what}: authenticate as a user the ACL grants it to, or ask an admin to change the ACL`,
    path,
  );
}
