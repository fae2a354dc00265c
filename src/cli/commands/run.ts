/** Executes a parsed `arbor` command against a client, writing through an injected sink. */
import type { ArborClient } from '../../client/client.js';
import { NoNodeError, toArborError } from '../../client/errors.js';
import type { CallOptions } from '../../client/types.js';
import { assertNever } from '../../util/assert.js';
import { formatAcl } from '../../tree/acl.js';
import {
  dataJson,
  eventJson,
  formatEvent,
  formatMembers,
  formatStat,
  formatStatus,
  renderTree,
  toJson,
  type StatusRow,
  type TreeNode,
} from './format.js';
import type { Command, Globals } from './parse.js';

export interface Io {
  /** One line (or a JSON document) to stdout. */
  out(line: string): void;
  /** Raw bytes to stdout (`get` prints data as stored). */
  raw(data: Buffer): void;
  readStdin(): Promise<Buffer>;
  /** Aborted on Ctrl-C. */
  readonly signal: AbortSignal;
}

type DataCommand = Exclude<Command, { type: 'help' } | { type: 'server' }>;

export async function runCommand(client: ArborClient, g: Globals, cmd: DataCommand, io: Io): Promise<void> {
  const call: CallOptions =
    g.timeoutMs === undefined ? { signal: io.signal } : { signal: io.signal, deadlineMs: g.timeoutMs };
  const emit = (json: unknown, human: () => string[]): void => {
    if (g.json) io.out(toJson(json));
    else for (const l of human()) io.out(l);
  };
  switch (cmd.type) {
    case 'get': {
      const r = await client.get(cmd.path, {
        ...call,
        consistency: cmd.serializable ? 'serializable' : 'linearizable',
      });
      if (g.json) io.out(toJson({ path: cmd.path, ...dataJson(r.data), stat: r.stat, revision: r.revision }));
      else {
        io.raw(r.data);
        if (r.data.length > 0 && r.data[r.data.length - 1] !== 0x0a) io.out('');
      }
      return;
    }
    case 'set': {
      const data = cmd.data ?? (await io.readStdin());
      const r = await client.set(cmd.path, data, { ...call, expectedVersion: cmd.version });
      emit({ path: cmd.path, stat: r.stat }, () => [`${cmd.path} version ${r.stat.version}`]);
      return;
    }
    case 'create': {
      const r = await client.create(cmd.path, cmd.data, {
        ...call,
        mode: cmd.mode,
        createParents: cmd.parents,
        ...(cmd.ttlMs === undefined ? {} : { ttlMs: cmd.ttlMs }),
      });
      emit({ path: r.path, stat: r.stat }, () => [r.path]);
      return;
    }
    case 'rm':
      await client.delete(cmd.path, { ...call, expectedVersion: cmd.version, recursive: cmd.recursive });
      emit({ path: cmd.path, deleted: true }, () => []);
      return;
    case 'ls': {
      const r = await client.children(cmd.path, call);
      emit({ path: cmd.path, children: r.children }, () => r.children);
      return;
    }
    case 'stat': {
      const r = await client.exists(cmd.path, call);
      if (!r.exists || !r.stat) throw new NoNodeError(`no node ${cmd.path}`);
      const stat = r.stat;
      emit({ path: cmd.path, stat }, () => formatStat(stat));
      return;
    }
    case 'tree': {
      const root = await fetchTree(client, cmd.path, call);
      emit(root, () => renderTree(root));
      return;
    }
    case 'watch': {
      const w = client.watch(cmd.path, { scope: cmd.scope, startRevision: cmd.from, signal: io.signal });
      for await (const e of w) io.out(g.json ? toJson(eventJson(e)) : formatEvent(e));
      return;
    }
    case 'status': {
      const rows = await Promise.all(
        client.endpoints.map(async (endpoint): Promise<StatusRow> => {
          try {
            return {
              type: 'ok',
              status: await client.status({ ...call, endpoint, deadlineMs: g.timeoutMs ?? 3_000 }),
            };
          } catch (e) {
            return { type: 'error', endpoint, error: toArborError(e).message };
          }
        }),
      );
      emit(rows, () => formatStatus(rows));
      if (rows.every((r) => r.type === 'error')) throw new Error('no member answered');
      return;
    }
    case 'members': {
      const st = await client.status(call);
      emit({ leaderId: st.leaderId, members: st.members }, () => formatMembers(st.members, st.leaderId));
      return;
    }
    case 'member-add': {
      const members = await client.addMember({
        ...call,
        id: cmd.id,
        name: cmd.name,
        peerUrl: cmd.peerUrl,
        clientUrl: cmd.clientUrl,
        asLearner: cmd.learner,
      });
      emit({ members }, () => formatMembers(members, 0));
      return;
    }
    case 'member-promote':
    case 'member-remove': {
      const members =
        cmd.type === 'member-promote'
          ? await client.promoteMember(cmd.id, call)
          : await client.removeMember(cmd.id, call);
      emit({ members }, () => formatMembers(members, 0));
      return;
    }
    case 'leader-transfer': {
      const r = await client.transferLeader(cmd.id, call);
      emit(r, () => [`leader is now ${r.leaderId}`]);
      return;
    }
    case 'auth-enable':
      await client.authEnable(call);
      emit({ enabled: true }, () => ['auth enabled']);
      return;
    case 'auth-disable':
      await client.authDisable(call);
      emit({ enabled: false }, () => ['auth disabled']);
      return;
    case 'auth-status': {
      const st = await client.authStatus(call);
      emit(st, () => [
        `auth ${st.enabled ? 'enabled' : 'disabled'}`,
        `identity: ${st.identity.length === 0 ? '(anonymous)' : st.identity.join(', ')}`,
      ]);
      return;
    }
    case 'user-add':
    case 'user-passwd': {
      const pw = cmd.password ?? (await io.readStdin()).toString('utf8').replace(/\r?\n$/, '');
      if (pw === '') throw new Error('empty password: pass --new-password or pipe one on stdin');
      if (cmd.type === 'user-add') await client.addUser(cmd.name, pw, cmd.roles, call);
      else await client.changePassword(cmd.name, pw, call);
      emit({ user: cmd.name }, () => [
        cmd.type === 'user-add' ? `user ${cmd.name} added` : 'password changed',
      ]);
      return;
    }
    case 'user-delete':
      await client.deleteUser(cmd.name, call);
      emit({ user: cmd.name, deleted: true }, () => [`user ${cmd.name} deleted`]);
      return;
    case 'user-grant':
    case 'user-revoke':
      if (cmd.type === 'user-grant') await client.grantRole(cmd.name, cmd.role, call);
      else await client.revokeRole(cmd.name, cmd.role, call);
      emit({ user: cmd.name, role: cmd.role }, () => []);
      return;
    case 'user-list': {
      const users = await client.listUsers(call);
      emit({ users }, () =>
        users.map((u) => `${u.name}${u.roles.length ? `  (${u.roles.join(', ')})` : ''}`),
      );
      return;
    }
    case 'acl-get': {
      const r = await client.getAcl(cmd.path, call);
      emit({ path: cmd.path, acl: r.acl, aclVersion: r.stat.aclVersion }, () => formatAcl(r.acl));
      return;
    }
    case 'acl-set': {
      const r = await client.setAcl(cmd.path, cmd.acl, { ...call, expectedAclVersion: cmd.version });
      emit({ path: cmd.path, aclVersion: r.stat.aclVersion }, () => [
        `${cmd.path} aclVersion ${r.stat.aclVersion}`,
      ]);
      return;
    }
    default:
      assertNever(cmd, 'command');
  }
}

/** Read a subtree breadth-first, a level at a time (siblings fetched concurrently). */
export async function fetchTree(client: ArborClient, root: string, call: CallOptions): Promise<TreeNode> {
  interface Mutable {
    name: string;
    path: string;
    children: Mutable[];
  }
  const top: Mutable = { name: root, path: root, children: [] };
  let level = [top];
  while (level.length > 0) {
    const next: Mutable[] = [];
    await Promise.all(
      level.map(async (n) => {
        const r = await client.children(n.path, call);
        n.children = r.children.map((c) => ({
          name: c,
          path: n.path === '/' ? `/${c}` : `${n.path}/${c}`,
          children: [],
        }));
        next.push(...n.children);
      }),
    );
    level = next;
  }
  const strip = (n: Mutable): TreeNode => ({ name: n.name, children: n.children.map(strip) });
  return strip(top);
}
