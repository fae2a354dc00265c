/**
 * Everything that can be checked without the tree, so the server refuses a bad request before
 * it reaches Raft. apply() runs the same checks again: a replica must never be corrupted by an
 * entry that slipped past (an older server, a hand-crafted log), and the checks are cheap.
 */
import { assertNever } from '../util/assert.js';
import { err, ok, type Result } from '../util/result.js';
import { isEphemeral, isSequential, type Command, type Envelope, type MultiOp } from './commands.js';
import { treeError, withFailedOp, type TreeError } from './errors.js';
import type { TreeLimits } from './limits.js';
import { quote, validatePath, validateSequentialPrefix } from './path.js';
import { validateAcl } from './acl.js';
import { validateCredential, validateRole, validateSecret, validateUserName } from './auth-table.js';

type Check = TreeError | undefined;

const invalid = (message: string, path?: string): TreeError => treeError('invalidArgument', message, path);

function checkVersion(v: number, path: string, what = 'expectedVersion'): Check {
  if (!Number.isSafeInteger(v) || v < -1) {
    return invalid(`${what} must be -1 (any version) or a version >= 0: got ${v}`, path);
  }
  return undefined;
}

function checkData(data: Uint8Array, path: string, limits: TreeLimits): Check {
  if (data.length > limits.maxDataBytes) {
    return treeError(
      'tooLarge',
      `data is ${data.length} bytes; the limit is ${limits.maxDataBytes} bytes: store less per znode`,
      path,
    );
  }
  return undefined;
}

function checkPath(path: string, limits: TreeLimits): Check {
  const r = validatePath(path, limits);
  return r.ok ? undefined : r.error;
}

function checkNotRoot(path: string, what: string): Check {
  return path === '/' ? invalid(`the root '/' cannot be ${what}: name a znode below it`, path) : undefined;
}

function checkOp(c: MultiOp, limits: TreeLimits): Check {
  switch (c.type) {
    case 'create': {
      const seq = isSequential(c.mode);
      const p = seq ? validateSequentialPrefix(c.path, limits) : validatePath(c.path, limits);
      if (!p.ok) return p.error;
      const d = checkData(c.data, c.path, limits);
      if (d !== undefined) return d;
      if (c.acl !== undefined) {
        const a = validateAcl(c.acl, c.path);
        if (a !== undefined) return a;
      }
      if (isEphemeral(c.mode) && c.sessionId === 0n) {
        return invalid(
          `mode ${c.mode} needs the owning session: set sessionId (open a session first)`,
          c.path,
        );
      }
      if (c.mode === 'persistentWithTtl') {
        if (!Number.isSafeInteger(c.ttlMs) || c.ttlMs <= 0 || c.ttlMs > limits.maxTtlMs) {
          return invalid(
            `mode persistentWithTtl needs ttlMs between 1 and ${limits.maxTtlMs}: got ${c.ttlMs}`,
            c.path,
          );
        }
      } else if (c.ttlMs !== 0) {
        return invalid(
          `ttlMs is only allowed with mode persistentWithTtl (mode is ${c.mode}): set it to 0`,
          c.path,
        );
      }
      return undefined;
    }
    case 'set':
      return (
        checkPath(c.path, limits) ??
        checkData(c.data, c.path, limits) ??
        checkVersion(c.expectedVersion, c.path)
      );
    case 'delete':
      return (
        checkPath(c.path, limits) ??
        checkNotRoot(c.path, 'deleted') ??
        checkVersion(c.expectedVersion, c.path)
      );
    case 'check':
      return checkPath(c.path, limits) ?? checkVersion(c.expectedVersion, c.path);
    default:
      return assertNever(c, 'multi op');
  }
}

function checkCommand(c: Command, limits: TreeLimits): Check {
  switch (c.type) {
    case 'create':
    case 'set':
    case 'delete':
      return checkOp(c, limits);
    case 'check':
      return invalid(
        'check is only allowed inside a multi: wrap it in a multi with the writes it guards',
        c.path,
      );
    case 'multi': {
      if (c.ops.length > limits.maxMultiOps) {
        return treeError(
          'limitExceeded',
          `multi has ${c.ops.length} ops; the limit is ${limits.maxMultiOps}: split it into smaller transactions`,
        );
      }
      for (let i = 0; i < c.ops.length; i++) {
        const op = c.ops[i] as MultiOp;
        // The decoder cannot produce other types here, but a caller building commands by hand can.
        const t: string = op.type;
        if (t !== 'create' && t !== 'set' && t !== 'delete' && t !== 'check') {
          return withFailedOp(invalid(`a multi may only contain create, set, delete and check: got ${t}`), i);
        }
        const e = checkOp(op, limits);
        if (e !== undefined) return withFailedOp(e, i);
      }
      return undefined;
    }
    case 'openSession':
      if (
        !Number.isSafeInteger(c.timeoutMs) ||
        c.timeoutMs <= 0 ||
        c.timeoutMs > limits.maxSessionTimeoutMs
      ) {
        return invalid(
          `session timeoutMs must be between 1 and ${limits.maxSessionTimeoutMs}: got ${c.timeoutMs}`,
        );
      }
      return undefined;
    case 'closeSession':
      return c.sessionId === 0n ? invalid('closeSession needs a sessionId: 0 is not a session') : undefined;
    case 'expireSessions':
      return c.sessionIds.length > limits.maxBatch
        ? treeError(
            'limitExceeded',
            `expireSessions lists ${c.sessionIds.length} ids; the limit is ${limits.maxBatch}`,
          )
        : undefined;
    case 'sweep': {
      if (c.targets.length > limits.maxBatch) {
        return treeError(
          'limitExceeded',
          `sweep lists ${c.targets.length} targets; the limit is ${limits.maxBatch}`,
        );
      }
      for (const t of c.targets) {
        const e =
          checkPath(t.path, limits) ??
          checkNotRoot(t.path, 'swept') ??
          checkVersion(t.expectedVersion, t.path) ??
          (t.expectedChildrenVersion === undefined
            ? undefined
            : checkVersion(t.expectedChildrenVersion, t.path, 'expectedChildrenVersion'));
        if (e !== undefined) return e;
      }
      return undefined;
    }
    case 'setAcl':
      return (
        checkPath(c.path, limits) ??
        validateAcl(c.acl, c.path) ??
        checkVersion(c.expectedAclVersion, c.path, 'expectedAclVersion')
      );
    case 'addUser':
      return (
        validateUserName(c.name) ??
        validateCredential(c.credential) ??
        c.roles.map(validateRole).find((e) => e !== undefined)
      );
    case 'deleteUser':
      return validateUserName(c.name);
    case 'setPassword':
      return validateUserName(c.name) ?? validateCredential(c.credential);
    case 'grantRole':
    case 'revokeRole':
      return validateUserName(c.name) ?? validateRole(c.role);
    case 'authEnable':
      return validateSecret(c.secret);
    case 'authDisable':
      return undefined;
    default:
      return assertNever(c, 'command');
  }
}

/** Checks a command against everything knowable without the tree. Returns the same command. */
export function validateCommand(cmd: Command, limits: TreeLimits): Result<Command, TreeError> {
  const e = checkCommand(cmd, limits);
  return e === undefined ? ok(cmd) : err(e);
}

/** validateCommand plus the envelope: time and the exactly-once header. */
export function validateEnvelope(env: Envelope, limits: TreeLimits): Result<Envelope, TreeError> {
  if (!Number.isSafeInteger(env.timeMs) || env.timeMs < 0) {
    return err(invalid(`envelope timeMs must be a non-negative integer: got ${env.timeMs}`));
  }
  if (env.identity !== undefined && env.identity.length > 16) {
    return err(invalid(`an identity has at most 16 principals: got ${env.identity.length}`));
  }
  const c = env.client;
  if (c !== undefined) {
    const e = checkClientId(c.clientId, limits);
    if (e !== undefined) return err(e);
    if (!Number.isSafeInteger(c.seq) || c.seq < 0) {
      return err(invalid(`header sequence must be a non-negative integer: got ${c.seq}`));
    }
    if (!Number.isSafeInteger(c.firstUnacked) || c.firstUnacked < 0 || c.firstUnacked > c.seq) {
      return err(
        invalid(`header firstUnacked must be between 0 and the sequence ${c.seq}: got ${c.firstUnacked}`),
      );
    }
  }
  const r = validateCommand(env.command, limits);
  return r.ok ? ok(env) : r;
}

function checkClientId(id: string, limits: TreeLimits): Check {
  if (id.length === 0) return invalid('header clientId must not be empty: use a unique id per client');
  let bytes = 0;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) {
      return invalid(`header clientId must not contain control characters: got ${quote(id)}`);
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = id.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff))
        return invalid(`header clientId must be valid UTF-16: got ${quote(id)}`);
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return invalid(`header clientId must be valid UTF-16: got ${quote(id)}`);
    } else {
      bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    }
  }
  if (bytes > limits.maxClientIdBytes) {
    return invalid(`header clientId is ${bytes} UTF-8 bytes; the limit is ${limits.maxClientIdBytes}`);
  }
  return undefined;
}
