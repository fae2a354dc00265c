/**
 * Authentication and per-znode ACLs against real member processes: auth switched on in a live
 * 3-member cluster (refused without an admin, then anonymous writes refused and authorized ones
 * applied, surviving a restart of every member and a snapshot sent to a new member), every
 * operation under every single-permission ACL, watches that never show what the watcher may not
 * READ, the admin role on the Cluster service, forged and expired tokens, and the audit log
 * lines those refusals leave.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, converged, events, failure, until } from './harness.js';
import { ArborClient } from '../../src/client/client.js';
import { PermissionDeniedError } from '../../src/client/errors.js';
import { Perms } from '../../src/client/types.js';
import { PERMS, authStub, callAs, closeAuthStubs, codeOf, login, watchAs } from './auth-helpers.js';

const S = grpc.status;
const acl = (id: string, perms: number) => ({ scheme: 'user', id, perms });
const WORLD_READ = { scheme: 'world', id: 'anyone', perms: PERMS.read };

let c: TestCluster;
let leader: number;
let follower: number;
let rootToken = '';
let aliceToken = '';

beforeAll(async () => {
  c = await TestCluster.start({ size: 3, extraArgs: ['--snapshot-entries', '50'] });
  leader = await c.waitForLeader();
  follower = [1, 2, 3].find((i) => i !== leader)!;
}, 60_000);

afterAll(async () => {
  closeAuthStubs();
  await c?.stop();
});

type AuditLine = Record<string, unknown>;

/** The audit lines (component "audit") a member has logged so far that match `pick`, once there is one. */
/**
 * The member's audit lines that `pick` selects, once `expected` (the lines the test asserts on)
 * have all been written: the log reaches the test's pipe some time after the request is answered.
 */
async function auditLines(
  id: number,
  pick: (l: AuditLine) => boolean,
  expected: readonly ((l: AuditLine) => boolean)[],
): Promise<AuditLine[]> {
  const read = (): AuditLine[] =>
    c
      .member(id)
      .output.filter((s) => s.includes('"component":"audit"'))
      .map((s) => JSON.parse(s.slice(s.indexOf('{'))) as AuditLine)
      .filter(pick);
  await until(
    () => (expected.every((e) => read().some(e)) ? true : undefined),
    10_000,
    'the expected audit lines',
  ).catch(() => undefined); // the assertions that follow say which line is missing
  return read();
}

describe('auth enable on a live 3-member cluster', () => {
  it('is refused while no user holds the admin role', async () => {
    const e = await failure(callAs(authStub(c, follower), 'AuthEnable', {}));
    expect(e.code).toBe(S.FAILED_PRECONDITION);
    expect(e.details).toMatch(/admin/);
  });

  it('afterwards anonymous writes are refused and authorized ones apply, on any member', async () => {
    const auth = authStub(c, follower);
    await callAs(auth, 'UserAdd', { name: 'root', password: 'root-pw', roles: ['admin'] });
    await callAs(auth, 'UserAdd', { name: 'alice', password: 'alice-pw' });
    await callAs(auth, 'UserAdd', { name: 'bob', password: 'bob-pw' });
    // Before auth: Authenticate answers without a token (none is needed yet).
    expect((await callAs(auth, 'Authenticate', { user: 'alice', password: 'alice-pw' })).auth_enabled).toBe(
      false,
    );
    const arbor = c.arbor(leader);
    await call(arbor, 'Create', { path: '/app', data: Buffer.from('v0') });
    await callAs(arbor, 'SetACL', {
      path: '/app',
      acl: [acl('alice', PERMS.all), WORLD_READ],
      expected_acl_version: 0,
    });
    // ACLs are not enforced yet: anyone may still write.
    await call(arbor, 'Set', { path: '/app', data: Buffer.from('v1'), expected_version: -1 });

    await callAs(auth, 'AuthEnable', {});
    expect((await callAs(auth, 'AuthStatus', {})).enabled).toBe(true);
    rootToken = await login(auth, 'root', 'root-pw');
    aliceToken = await login(authStub(c, leader), 'alice', 'alice-pw');
    expect(aliceToken).not.toBe('');

    let last = 'v1';
    for (const id of [1, 2, 3]) {
      const a = c.arbor(id);
      // Anonymous: READ through world, nothing else.
      await until(
        async () =>
          (await codeOf(call(a, 'Set', { path: '/app', data: Buffer.from('x') }))) ===
          Number(S.PERMISSION_DENIED),
        10_000,
        'auth on',
      );
      expect((await call(a, 'Get', { path: '/app' })).data.toString()).toBe(last);
      // bob is authenticated but not in the ACL.
      const bobToken = await login(authStub(c, id), 'bob', 'bob-pw');
      const e = await failure(
        callAs(a, 'Set', { path: '/app', data: Buffer.from('x'), expected_version: -1 }, bobToken),
      );
      expect(e.code).toBe(S.PERMISSION_DENIED);
      expect(e.details).toMatch(/user:bob lacks WRITE on '\/app'/);
      // alice is: her write applies, also when forwarded from a follower.
      const r = await callAs(
        a,
        'Set',
        { path: '/app', data: Buffer.from(`alice@${id}`), expected_version: -1 },
        aliceToken,
      );
      expect(Number(r.stat.version)).toBeGreaterThan(1);
      last = `alice@${id}`;
    }
    // Anonymous creates under the (still open) root keep working: enabling auth locks nothing by itself.
    await call(c.arbor(follower), 'Create', { path: '/open', data: Buffer.from('o') });
    await converged(c, [1, 2, 3]);
  }, 60_000);

  it('a forged or garbled token is UNAUTHENTICATED, with a message that says what to do', async () => {
    const a = c.arbor(follower);
    const sig = aliceToken.lastIndexOf('.') + 5;
    const forged =
      aliceToken.slice(0, sig) + (aliceToken[sig] === 'A' ? 'B' : 'A') + aliceToken.slice(sig + 1);
    // base64 ignores the last character's low bits: a non-canonical spelling is refused too.
    const respelled = aliceToken.replace(/.$/, (ch) => String.fromCharCode(ch.charCodeAt(0) ^ 1));
    const renamed = aliceToken.replace(/^v1\.[^.]+/, `v1.${Buffer.from('root').toString('base64url')}`);
    for (const t of [forged, respelled, renamed, 'garbage']) {
      const e = await failure(callAs(a, 'Get', { path: '/app' }, t));
      expect(e.code).toBe(S.UNAUTHENTICATED);
      expect(e.details).toMatch(/Authenticate/);
    }
    const wrong = await failure(
      callAs(authStub(c, follower), 'Authenticate', { user: 'alice', password: 'nope' }),
    );
    expect(wrong.code).toBe(S.UNAUTHENTICATED);
    const nobody = await failure(
      callAs(authStub(c, follower), 'Authenticate', { user: 'nobody', password: 'x' }),
    );
    expect(nobody.code).toBe(S.UNAUTHENTICATED);
    // Each refusal is in the serving member's audit log (its own pino child logger).
    const wrongPassword = (l: AuditLine): boolean => l.user === 'alice' && l.reason === 'wrong password';
    const unknownUser = (l: AuditLine): boolean => l.user === 'nobody' && l.reason === 'unknown user';
    const audit = await auditLines(follower, (l) => l.event === 'authFailed', [wrongPassword, unknownUser]);
    expect(audit.some(wrongPassword)).toBe(true);
    expect(audit.some(unknownUser)).toBe(true);
    expect(audit.filter((l) => l.user === undefined).length).toBeGreaterThanOrEqual(4); // the tokens
  });

  it('the Cluster service and user management need the admin role', async () => {
    const cl = c.cluster(follower);
    for (const token of [undefined, aliceToken]) {
      expect(await codeOf(callAs(cl, 'TransferLeader', { target_id: 0 }, token))).toBe(S.PERMISSION_DENIED);
      expect(await codeOf(callAs(cl, 'RemoveMember', { id: 3 }, token))).toBe(S.PERMISSION_DENIED);
      expect(
        await codeOf(callAs(cl, 'AddMember', { id: 9, peer_url: '127.0.0.1:1', name: 'x' }, token)),
      ).toBe(S.PERMISSION_DENIED);
      expect(
        await codeOf(callAs(authStub(c, follower), 'UserAdd', { name: 'eve', password: 'p' }, token)),
      ).toBe(S.PERMISSION_DENIED);
      expect(await codeOf(callAs(authStub(c, follower), 'AuthDisable', {}, token))).toBe(S.PERMISSION_DENIED);
      const snap = (cl.Snapshot as (r: object, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>).call(
        cl,
        {},
        token === undefined
          ? new grpc.Metadata()
          : (() => {
              const md = new grpc.Metadata();
              md.set('authorization', `Bearer ${token}`);
              return md;
            })(),
      );
      const code = await new Promise<number>((resolve) => {
        snap.on('data', () => undefined);
        snap.on('error', (e: { code: number }) => resolve(e.code));
        snap.on('end', () => resolve(0));
      });
      expect(code).toBe(S.PERMISSION_DENIED);
    }
    const aliceRemove = (l: AuditLine): boolean =>
      JSON.stringify(l.identity) === '["user:alice"]' && l.op === 'removeMember';
    const anonTransfer = (l: AuditLine): boolean =>
      JSON.stringify(l.identity) === '[]' && l.op === 'transferLeader';
    const denied = await auditLines(follower, (l) => l.event === 'adminDenied', [aliceRemove, anonTransfer]);
    expect(denied.some(aliceRemove)).toBe(true);
    expect(denied.some(anonTransfer)).toBe(true);
    // Status stays open (health checks); an admin may list users.
    await call(cl, 'Status', {});
    const users = await callAs(authStub(c, follower), 'UserList', {}, rootToken);
    expect(users.users.map((u: { name: string }) => u.name)).toEqual(['alice', 'bob', 'root']);
  });

  it('watches never deliver an event the watcher could not READ', async () => {
    const root = c.arbor(leader);
    await callAs(root, 'Create', { path: '/app/secret', acl: [acl('root', PERMS.all)] }, rootToken);
    const w = watchAs(c.arbor(follower), { path: '/app', scope: 2 }, aliceToken);
    await until(() => w.responses.some((r) => r.created), 10_000, 'watch created');
    await callAs(
      root,
      'Set',
      { path: '/app/secret', data: Buffer.from('s1'), expected_version: -1 },
      rootToken,
    );
    await callAs(root, 'Create', { path: '/app/pub', data: Buffer.from('p') }, aliceToken);
    await callAs(
      root,
      'Set',
      { path: '/app/secret', data: Buffer.from('s2'), expected_version: -1 },
      rootToken,
    );
    await callAs(root, 'Delete', { path: '/app/pub', expected_version: -1 }, aliceToken);
    await until(
      () => events(w).some((e) => e.path === '/app/pub' && e.type === 3),
      10_000,
      'pub deleted event',
    );
    expect(events(w).map((e) => e.path)).toEqual(['/app/pub', '/app/pub']);
    // Replay from history is filtered the same way.
    const replay = watchAs(c.arbor(leader), { path: '/app', scope: 2, start_revision: 1 }, aliceToken);
    await until(() => events(replay).some((e) => e.path === '/app/pub' && e.type === 3), 10_000, 'replay');
    expect(events(replay).some((e) => e.path === '/app/secret')).toBe(false);
    // Watching the secret node itself is refused outright.
    const denied = watchAs(c.arbor(follower), { path: '/app/secret', scope: 0 }, aliceToken);
    await until(() => denied.error, 10_000, 'watch refused');
    expect(denied.error?.code).toBe(S.PERMISSION_DENIED);
    w.cancel();
    replay.cancel();
  });

  it('every operation under every single-permission ACL (table-driven)', async () => {
    const a = c.arbor(follower);
    type Op = { name: string; needs: number; run: (p: string) => Promise<unknown> };
    const ops: Op[] = [
      { name: 'get', needs: PERMS.read, run: (p) => callAs(a, 'Get', { path: p }, aliceToken) },
      { name: 'exists', needs: PERMS.read, run: (p) => callAs(a, 'Exists', { path: p }, aliceToken) },
      { name: 'children', needs: PERMS.read, run: (p) => callAs(a, 'GetChildren', { path: p }, aliceToken) },
      { name: 'sync', needs: PERMS.read, run: (p) => callAs(a, 'Sync', { path: p }, aliceToken) },
      {
        name: 'multi check',
        needs: PERMS.read,
        run: (p) => callAs(a, 'Multi', { ops: [{ check: { path: p, expected_version: 0 } }] }, aliceToken),
      },
      {
        name: 'getAcl',
        needs: PERMS.read | PERMS.admin,
        run: (p) => callAs(a, 'GetACL', { path: p }, aliceToken),
      },
      {
        name: 'watch',
        needs: PERMS.read,
        run: async (p) => {
          const w = watchAs(a, { path: p }, aliceToken);
          await until(() => w.error ?? w.responses.some((r) => r.created), 10_000, 'watch answer');
          w.cancel();
          if (w.error && w.error.code !== Number(S.CANCELLED)) throw w.error;
        },
      },
      {
        name: 'create',
        needs: PERMS.create,
        run: (p) => callAs(a, 'Create', { path: `${p}/new` }, aliceToken),
      },
      {
        name: 'set',
        needs: PERMS.write,
        run: (p) => callAs(a, 'Set', { path: p, data: Buffer.from('x'), expected_version: -1 }, aliceToken),
      },
      {
        name: 'multi set+create',
        needs: PERMS.write | PERMS.create,
        run: (p) =>
          callAs(
            a,
            'Multi',
            { ops: [{ set: { path: p, expected_version: -1 } }, { create: { path: `${p}/m` } }] },
            aliceToken,
          ),
      },
      {
        name: 'delete',
        needs: PERMS.delete,
        run: (p) => callAs(a, 'Delete', { path: `${p}/child`, expected_version: -1 }, aliceToken),
      },
      {
        name: 'setAcl',
        needs: PERMS.admin,
        run: async (p) => {
          const cur = await callAs(a, 'GetACL', { path: p }, rootToken);
          return callAs(a, 'SetACL', { path: p, acl: cur.acl, expected_acl_version: -1 }, aliceToken);
        },
      },
    ];
    const masks = [0, PERMS.read, PERMS.write, PERMS.create, PERMS.delete, PERMS.admin, PERMS.all];
    const got: string[] = [];
    const want: string[] = [];
    for (const mask of masks) {
      const p = `/t${mask}`;
      const entries = mask === 0 ? [acl('root', PERMS.all)] : [acl('alice', mask)];
      await callAs(a, 'Create', { path: p, acl: entries }, rootToken);
      await callAs(a, 'Create', { path: `${p}/child` }, rootToken);
      for (const op of ops) {
        // "needs" with several bits: both for writes in a multi, either for getAcl.
        const allowed = op.name === 'getAcl' ? (mask & op.needs) !== 0 : (mask & op.needs) === op.needs;
        const code = await codeOf(op.run(p));
        got.push(`${p} ${op.name} ${code}`);
        want.push(`${p} ${op.name} ${allowed ? 0 : S.PERMISSION_DENIED}`);
      }
    }
    expect(got).toEqual(want);
  }, 120_000);

  it('survives a restart of every member and a snapshot sent to a new member', async () => {
    for (const id of [1, 2, 3]) await c.kill(id);
    for (const id of [1, 2, 3]) c.restart(id);
    const l = await c.waitForLeader();
    const f = [1, 2, 3].find((i) => i !== l)!;
    expect((await callAs(authStub(c, f), 'AuthStatus', {})).enabled).toBe(true);
    expect(await codeOf(call(c.arbor(f), 'Set', { path: '/app', data: Buffer.from('x') }))).toBe(
      S.PERMISSION_DENIED,
    );
    // Same replicated secret: a token from before the restart still works.
    await callAs(
      c.arbor(f),
      'Set',
      { path: '/app', data: Buffer.from('after-restart'), expected_version: -1 },
      aliceToken,
    );
    // Enough writes to compact the log (--snapshot-entries 50): a new member must get a snapshot.
    for (let i = 0; i < 80; i++)
      await callAs(
        c.arbor(l),
        'Set',
        { path: '/app', data: Buffer.from(`w${i}`), expected_version: -1 },
        aliceToken,
      );
    const joiner = await c.spawnJoiner(4);
    await callAs(
      c.cluster(l),
      'AddMember',
      { id: 4, name: 'arbor-4', peer_url: joiner.peerAddr, client_url: joiner.clientAddr, as_learner: true },
      rootToken,
    );
    await until(
      async () => {
        try {
          const st = await call(c.cluster(4), 'Status', {}, 1000);
          return Number(st.applied_index) > 100;
        } catch {
          return false;
        }
      },
      30_000,
      'the new member to catch up',
    );
    expect(c.member(4).output.join('\n')).not.toMatch(/fatal/);
    expect((await callAs(authStub(c, 4), 'AuthStatus', {})).enabled).toBe(true);
    const got = await call(c.arbor(4), 'GetACL', { path: '/app', consistency: 1 }).catch(
      (e: { code: number }) => e.code,
    );
    expect(got).toMatchObject({ acl: [acl('alice', PERMS.all), WORLD_READ] });
    // Its ACLs deny and its copy of the secret verifies tokens issued elsewhere.
    expect(await codeOf(call(c.arbor(4), 'Exists', { path: '/app/secret', consistency: 1 }))).toBe(
      S.PERMISSION_DENIED,
    );
    expect(
      (await callAs(c.arbor(4), 'Get', { path: '/app', consistency: 1 }, aliceToken)).data.toString(),
    ).toBe('w79');
  }, 120_000);
});

describe('token expiry', () => {
  let one: TestCluster;
  beforeAll(async () => {
    one = await TestCluster.start({ size: 1, extraArgs: ['--auth-token-ttl-ms', '1500'] });
  }, 60_000);
  afterAll(async () => one?.stop());

  it('an expired token is UNAUTHENTICATED; a fresh one works', async () => {
    const auth = authStub(one, 1);
    await callAs(auth, 'UserAdd', { name: 'root', password: 'pw', roles: ['admin'] });
    await callAs(auth, 'AuthEnable', {});
    const issued = await callAs(auth, 'Authenticate', { user: 'root', password: 'pw' });
    expect(Number(issued.expires_ms)).toBeGreaterThan(Date.now());
    const a = one.arbor(1);
    await callAs(a, 'Get', { path: '/' }, issued.token as string);
    const e = await until(
      async () => {
        const r = await failure(callAs(a, 'Get', { path: '/' }, issued.token as string)).catch(
          () => undefined,
        );
        return r;
      },
      15_000,
      'the token to expire',
    );
    expect(e.code).toBe(S.UNAUTHENTICATED);
    expect(e.details).toMatch(/expired.*Authenticate/);
    const fresh = await login(auth, 'root', 'pw');
    await callAs(a, 'Get', { path: '/' }, fresh);
  }, 60_000);

  it('ArborClient with user/password renews its token and keeps working past expiry (stream and unary)', async () => {
    for (const transport of ['stream', 'unary'] as const) {
      const client = new ArborClient({
        endpoints: [one.member(1).clientAddr],
        user: 'root',
        password: 'pw',
        transport,
      });
      const anon = new ArborClient({ endpoints: [one.member(1).clientAddr], transport });
      try {
        const p = `/client-${transport}`;
        await client.create(p, 'x', { acl: [{ scheme: 'user', id: 'root', perms: Perms.all }] });
        await expect(anon.get(p)).rejects.toBeInstanceOf(PermissionDeniedError);
        const until = Date.now() + 4_000; // well past two token lifetimes (1.5 s)
        let n = 0;
        while (Date.now() < until) {
          await client.set(p, `v${++n}`);
          expect((await client.get(p)).data.toString()).toBe(`v${n}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        expect((await client.getAcl(p)).acl).toEqual([{ scheme: 'user', id: 'root', perms: Perms.all }]);
        expect((await client.authStatus()).identity).toEqual(['user:root']);
      } finally {
        await client.close();
        await anon.close();
      }
    }
  }, 60_000);
});
