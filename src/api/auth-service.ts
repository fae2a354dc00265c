/**
 * arbor.v1.Auth (Authenticate, the auth switch, user management) and the ACL calls of
 * arbor.v1.Arbor (GetACL, SetACL). Passwords are hashed here, on the member that received them;
 * only salt and hash are replicated. The tree re-checks the admin role at apply (deterministic
 * on every replica); the checks here refuse early, before any scrypt work is spent.
 */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { PERM, type Identity } from '../tree/acl.js';
import { validateUserName } from '../tree/auth-table.js';
import type { AuthCommand } from '../tree/commands.js';
import { MemberError } from '../server/errors.js';
import type { ApiContext, Operations } from './arbor-service.js';
import type { CallLike } from './auth-gate.js';
import { aclFromProto, aclToProto, enumValue, header, int, statToProto, str } from './convert.js';
import { MAX_PASSWORD_BYTES, hashPassword } from './passwords.js';
import { TreeFailure, invalid } from './status.js';
import { unaryHandler } from './unary.js';

type Msg = Record<string, unknown>;

const SERIALIZABLE = 1;

function userName(req: unknown, field = 'name'): string {
  const name = str(req, field);
  const e = validateUserName(name);
  if (e !== undefined) throw new TreeFailure(e);
  return name;
}

function password(req: unknown): string {
  const p = str(req, 'password');
  if (p.length === 0) throw invalid('password must not be empty');
  if (Buffer.byteLength(p) > MAX_PASSWORD_BYTES)
    throw invalid(`password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  return p;
}

export function authHandlers(
  ctx: ApiContext,
  ops: Operations,
): { auth: grpc.UntypedServiceImplementation; acl: grpc.UntypedServiceImplementation } {
  const unary = unaryHandler(ctx.logger, (call) => ops.deadlineOf(call), ctx.connections);
  const gate = ctx.auth;
  const member = ctx.member;

  /** Replicates an auth command and audits it with the caller's identity. */
  const change = async (
    c: AuthCommand,
    who: Identity | undefined,
    deadline: number,
    fields: Msg = {},
  ): Promise<Msg> => {
    await ops.write(c, undefined, deadline, who);
    gate.audit.info({ event: c.type, identity: who ?? [], ...fields }, `auth change: ${c.type}`);
    return {};
  };

  /** Admin-only while auth is enabled: checked before any work (the tree checks again at apply). */
  const admin = (call: CallLike, op: string): Identity | undefined => {
    const who = gate.identify(call);
    gate.requireAdmin(who, op);
    return who;
  };

  const auth: grpc.UntypedServiceImplementation = {
    Authenticate: unary(async (req, deadline, call) => {
      const user = str(req, 'user');
      // A user added a moment ago through another member must be known here.
      await member.linearize(deadline);
      const r = await gate.authenticate(call, user, str(req, 'password'));
      return { token: r.token, expires_ms: r.expiresMs, auth_enabled: r.enabled };
    }),
    AuthStatus: unary((_req, _deadline, call) => {
      const who = gate.identify(call);
      return Promise.resolve({ enabled: gate.enabled, identity: who ?? [] });
    }),
    AuthEnable: unary((_req, deadline, call) => {
      const who = admin(call, 'AuthEnable');
      // The secret is chosen here and replicated in the command, so apply stays deterministic.
      return change({ type: 'authEnable', secret: new Uint8Array(randomBytes(32)) }, who, deadline);
    }),
    AuthDisable: unary((_req, deadline, call) =>
      change({ type: 'authDisable' }, admin(call, 'AuthDisable'), deadline),
    ),
    UserAdd: unary(async (req, deadline, call) => {
      const who = admin(call, 'UserAdd');
      const name = userName(req);
      const roles = (req as { roles?: unknown }).roles;
      if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string')))
        throw invalid('roles must be a list of strings');
      const credential = await hashPassword(password(req));
      return change({ type: 'addUser', name, credential, roles: roles ?? [] }, who, deadline, {
        user: name,
        roles,
      });
    }),
    UserDelete: unary((req, deadline, call) => {
      const who = admin(call, 'UserDelete');
      const name = userName(req);
      return change({ type: 'deleteUser', name }, who, deadline, { user: name });
    }),
    UserChangePassword: unary(async (req, deadline, call) => {
      const who = gate.identify(call);
      const name = userName(req);
      // Users may change their own password; anyone else's needs the admin role.
      if (who !== undefined && !who.includes(`user:${name}`)) gate.requireAdmin(who, 'UserChangePassword');
      const credential = await hashPassword(password(req));
      return change({ type: 'setPassword', name, credential }, who, deadline, { user: name });
    }),
    UserGrantRole: unary((req, deadline, call) => {
      const who = admin(call, 'UserGrantRole');
      const name = userName(req);
      const role = str(req, 'role');
      return change({ type: 'grantRole', name, role }, who, deadline, { user: name, role });
    }),
    UserRevokeRole: unary((req, deadline, call) => {
      const who = admin(call, 'UserRevokeRole');
      const name = userName(req);
      const role = str(req, 'role');
      return change({ type: 'revokeRole', name, role }, who, deadline, { user: name, role });
    }),
    UserList: unary(async (_req, deadline, call) => {
      admin(call, 'UserList');
      await member.linearize(deadline);
      const tree = member.tree;
      return { users: tree.userNames().map((name) => ({ name, roles: tree.user(name)?.roles ?? [] })) };
    }),
  };

  const acl: grpc.UntypedServiceImplementation = {
    GetACL: unary(async (req, deadline, call) => {
      const who = gate.identify(call);
      const path = str(req, 'path');
      const revision =
        enumValue(req, 'consistency') === SERIALIZABLE
          ? member.appliedRevision
          : await member.linearize(deadline);
      const a = member.tree.acl(path);
      if (a === undefined) throw new MemberError('notFound', `node ${path} does not exist`);
      // ZooKeeper (ZOOKEEPER-1392): reading an ACL needs READ or ADMIN on the node.
      gate.require(a.acl, who, PERM.read | PERM.admin, path, 'getAcl');
      return { acl: aclToProto(a.acl), stat: statToProto(a.stat), revision };
    }),
    SetACL: unary(async (req, deadline, call) => {
      const who = gate.identify(call);
      const path = str(req, 'path');
      const res = await ops.write(
        {
          type: 'setAcl',
          path,
          acl: aclFromProto(req, 'acl'),
          expectedAclVersion: int(req, 'expected_acl_version'),
        },
        header(req),
        deadline,
        who,
      );
      gate.audit.info({ event: 'setAcl', identity: who ?? [], path }, 'ACL changed');
      return res;
    }),
  };
  return { auth, acl };
}
