/**
 * Per-znode ACLs and the replicated user table, at apply time (the ZooKeeper model): every
 * write under every permission combination, inheritance, setAcl versions, the admin role,
 * enabling auth, and that all of it survives records (snapshots) and the codecs.
 */
import { describe, expect, it } from 'vitest';
import {
  ALL_PERMS,
  OPEN_ACL,
  PERM,
  formatAcl,
  parseAclEntry,
  permits,
  type Acl,
} from '../../src/tree/acl.js';
import type { Command, MultiOp } from '../../src/tree/commands.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/tree/command-codec.js';
import { decodeResult, encodeResult } from '../../src/tree/result-codec.js';
import { DataTree } from '../../src/tree/data-tree.js';
import { decodeNode } from '../../src/tree/records.js';
import { check, create, del, Driver, multi, set, state } from './helpers.js';

const cred = (seed: number) => ({
  salt: new Uint8Array(16).fill(seed),
  hash: new Uint8Array(32).fill(seed + 1),
  n: 1024,
  r: 8,
  p: 1,
});
const SECRET = new Uint8Array(32).fill(7);
const addUser = (name: string, roles: string[] = []): Command => ({
  type: 'addUser',
  name,
  credential: cred(name.length),
  roles,
});
const setAcl = (path: string, acl: Acl, expectedAclVersion = -1): Command => ({
  type: 'setAcl',
  path,
  acl,
  expectedAclVersion,
});
const enable: Command = { type: 'authEnable', secret: SECRET };
const user = (id: string, perms: number) => ({ scheme: 'user' as const, id, perms });
const ROOT = ['user:root'];
const ALICE = ['user:alice'];

/** Users root (admin) and alice, auth on, /n with an ACL granting alice `perms` (and root all), /n/c a child. */
function fixture(perms: number): Driver {
  const d = new Driver();
  d.ok(addUser('root', ['admin']));
  d.ok(addUser('alice'));
  d.ok(create('/n'));
  d.ok(create('/n/c'));
  d.ok(create('/n/c/g'));
  const acl: Acl = perms === 0 ? [user('bob', ALL_PERMS)] : [user('alice', perms), user('bob', ALL_PERMS)];
  d.ok(setAcl('/n', acl));
  d.ok(enable);
  return d;
}

interface Case {
  readonly name: string;
  /** Permissions alice needs on /n. */
  readonly needs: number;
  readonly command: Command;
}

const CASES: readonly Case[] = [
  { name: 'create a child', needs: PERM.create, command: create('/n/new') },
  { name: 'create with parents below', needs: PERM.create, command: create('/n/x/y', { parents: true }) },
  { name: 'set data', needs: PERM.write, command: set('/n', 'v') },
  // /n/c and /n/c/g predate /n's ACL (they stay open), so only DELETE on /n decides.
  { name: 'delete a subtree', needs: PERM.delete, command: del('/n/c', -1, true) },
  { name: 'setAcl', needs: PERM.admin, command: setAcl('/n', OPEN_ACL) },
  { name: 'multi check', needs: PERM.read, command: multi(check('/n', 0), create('/other')) },
  {
    name: 'multi set + create (every op checked)',
    needs: PERM.write | PERM.create,
    command: multi(set('/n', 'v'), create('/n/m')),
  },
];

describe('every write under every permission combination', () => {
  for (const c of CASES) {
    it(`${c.name}: allowed exactly when the ACL grants ${formatAcl([user('x', c.needs)])[0]}`, () => {
      for (let perms = 0; perms <= ALL_PERMS; perms++) {
        const d = fixture(perms);
        const granted = (perms & c.needs) === c.needs;
        const before = d.tree.digest();
        const o = d.apply(c.command, undefined, ALICE);
        if (granted) {
          expect(o.result.ok, `perms ${perms}`).toBe(true);
        } else {
          expect(o.result.ok, `perms ${perms}`).toBe(false);
          if (!o.result.ok) expect(o.result.error.code).toBe('permissionDenied');
          expect(d.tree.digest(), 'a denied command changes nothing').toBe(before);
          expect(o.events).toEqual([]);
        }
        // The admin role passes every ACL (ZooKeeper's super user); anonymous callers none here.
        const admin = fixture(perms);
        expect(admin.apply(c.command, undefined, ROOT).result.ok).toBe(true);
        const anon = fixture(perms);
        const a = anon.apply(c.command, undefined, []);
        expect(a.result.ok).toBe(false);
      }
    });
  }

  it('reads: allowed() grants READ exactly when an entry does', () => {
    for (let perms = 0; perms <= ALL_PERMS; perms++) {
      const d = fixture(perms);
      const acl = d.tree.acl('/n')?.acl as Acl;
      expect(d.tree.allowed(acl, ALICE, PERM.read)).toBe((perms & PERM.read) !== 0);
      expect(d.tree.allowed(acl, ROOT, PERM.read)).toBe(true);
      expect(d.tree.allowed(acl, [], PERM.read)).toBe(false);
    }
  });

  it('a recursive delete needs DELETE on every node with children in the subtree', () => {
    const d = fixture(ALL_PERMS);
    // /n/c is open, but /n/c/g's parent /n/c is what matters: lock it for alice.
    d.ok(setAcl('/n/c', [user('bob', ALL_PERMS)]), undefined, ROOT);
    expect(d.fail(del('/n/c', -1, true), undefined, ALICE).code).toBe('permissionDenied');
    d.ok(setAcl('/n/c', [user('alice', PERM.delete)]), undefined, ROOT);
    d.ok(del('/n/c', -1, true), undefined, ALICE);
    expect(d.tree.exists('/n/c/g')).toBeUndefined();
  });
});

describe('ACL inheritance and setAcl', () => {
  it('a node created without an ACL takes its parent’s; an explicit one wins; created parents inherit', () => {
    const d = new Driver();
    const locked: Acl = [user('alice', ALL_PERMS)];
    d.ok(create('/p'));
    d.ok(setAcl('/p', locked));
    d.ok(create('/p/a'));
    d.ok(create('/p/x/y/z', { parents: true }));
    d.ok({ ...create('/p/b'), acl: OPEN_ACL });
    expect(d.tree.acl('/p/a')?.acl).toEqual(locked);
    expect(d.tree.acl('/p/x')?.acl).toEqual(locked);
    expect(d.tree.acl('/p/x/y/z')?.acl).toEqual(locked);
    expect(d.tree.acl('/p/b')?.acl).toEqual(OPEN_ACL);
    expect(d.tree.acl('/')?.acl).toEqual(OPEN_ACL);
  });

  it('setAcl bumps the ACL version (in Stat) and refuses a stale expected version', () => {
    const d = new Driver();
    d.ok(create('/a'));
    expect(d.tree.exists('/a')?.aclVersion).toBe(0);
    const r = d.ok(setAcl('/a', [user('alice', PERM.read)], 0));
    expect(r).toMatchObject({ type: 'setAcl', stat: { aclVersion: 1, version: 0 } });
    const e = d.fail(setAcl('/a', OPEN_ACL, 0));
    expect(e.code).toBe('badVersion');
    expect(e.message).toMatch(/ACL of '\/a' is at version 1/);
    d.ok(setAcl('/a', OPEN_ACL, 1));
    expect(d.fail(setAcl('/missing', OPEN_ACL)).code).toBe('noNode');
  });

  it('an empty or malformed ACL is refused before it can lock everyone out', () => {
    const d = new Driver();
    d.ok(create('/a'));
    expect(d.fail(setAcl('/a', [])).code).toBe('invalidArgument');
    expect(d.fail(setAcl('/a', [{ scheme: 'world', id: 'bob', perms: 1 }])).code).toBe('invalidArgument');
    expect(d.fail(setAcl('/a', [user('alice', 0)])).code).toBe('invalidArgument');
    expect(d.fail(setAcl('/a', [user('alice', 64)])).code).toBe('invalidArgument');
  });

  it('ACLs are not checked while auth is disabled (the default)', () => {
    const d = new Driver();
    d.ok(create('/a'));
    d.ok(setAcl('/a', [user('alice', PERM.read)]));
    d.ok(set('/a', 'x'), undefined, ['user:mallory']);
    d.ok(create('/a/b'));
    expect(d.tree.allowed(d.tree.acl('/a')?.acl as Acl, [], PERM.write)).toBe(true);
  });
});

describe('users, roles and the auth switch', () => {
  it('authEnable is refused until a user holds the admin role', () => {
    const d = new Driver();
    d.ok(addUser('alice'));
    expect(d.fail(enable).code).toBe('noAdmin');
    expect(d.tree.authEnabled).toBe(false);
    d.ok({ type: 'grantRole', name: 'alice', role: 'admin' });
    d.ok(enable);
    expect(d.tree.authEnabled).toBe(true);
    expect([...d.tree.authSecret]).toEqual([...SECRET]);
  });

  it('once enabled, only admins manage users and the switch; a user may change their own password', () => {
    const d = fixture(ALL_PERMS);
    expect(d.fail(addUser('eve'), undefined, ALICE).code).toBe('permissionDenied');
    expect(d.fail(addUser('eve')).code).toBe('permissionDenied'); // anonymous
    expect(d.fail({ type: 'authDisable' }, undefined, ALICE).code).toBe('permissionDenied');
    d.ok({ type: 'setPassword', name: 'alice', credential: cred(9) }, undefined, ALICE);
    expect(d.fail({ type: 'setPassword', name: 'root', credential: cred(9) }, undefined, ALICE).code).toBe(
      'permissionDenied',
    );
    d.ok(addUser('eve'), undefined, ROOT);
    expect(d.fail(addUser('eve'), undefined, ROOT).code).toBe('userExists');
    expect(d.fail({ type: 'deleteUser', name: 'nobody' }, undefined, ROOT).code).toBe('noUser');
    d.ok({ type: 'authDisable' }, undefined, ROOT);
    expect(d.tree.authEnabled).toBe(false);
  });

  it('the last admin cannot be deleted or demoted while auth is enabled', () => {
    const d = fixture(ALL_PERMS);
    expect(d.fail({ type: 'deleteUser', name: 'root' }, undefined, ROOT).code).toBe('noAdmin');
    expect(d.fail({ type: 'revokeRole', name: 'root', role: 'admin' }, undefined, ROOT).code).toBe('noAdmin');
    d.ok({ type: 'grantRole', name: 'alice', role: 'admin' }, undefined, ROOT);
    d.ok({ type: 'revokeRole', name: 'root', role: 'admin' }, undefined, ALICE);
    expect(d.tree.user('root')?.roles).toEqual([]);
  });

  it('an entry proposed without an identity but applied after enabling is checked as anonymous', () => {
    const d = fixture(ALL_PERMS);
    expect(d.fail(set('/n', 'x')).code).toBe('permissionDenied');
    d.ok(create('/open-still')); // the root stays open: enabling auth alone locks nothing
  });

  it('principals match by scheme and id; world:anyone matches everyone', () => {
    const acl: Acl = [{ scheme: 'x509', id: 'CN=alice,O=arbor', perms: PERM.read }, user('bob', PERM.write)];
    expect(permits(acl, ['x509:CN=alice,O=arbor'], PERM.read)).toBe(true);
    expect(permits(acl, ['user:CN=alice,O=arbor'], PERM.read)).toBe(false);
    expect(permits(acl, ['user:bob'], PERM.read)).toBe(false);
    expect(permits(OPEN_ACL, [], PERM.admin)).toBe(true);
    expect(parseAclEntry('x509:CN=a,O=b:rw')).toEqual({
      ok: true,
      value: { scheme: 'x509', id: 'CN=a,O=b', perms: PERM.read | PERM.write },
    });
    expect(parseAclEntry('user:alice').ok).toBe(false);
  });
});

describe('persistence and codecs', () => {
  it('ACLs, users and the auth state survive records (snapshots) with the same digest', () => {
    const d = fixture(PERM.read | PERM.write);
    d.ok({ ...create('/n/e'), acl: [user('carol', PERM.read)] }, undefined, ROOT);
    const copy = DataTree.fromRecords(d.tree.records());
    expect(copy.digest()).toBe(d.tree.digest());
    expect(state(copy)).toEqual(state(d.tree));
    expect(copy.authEnabled).toBe(true);
    expect(copy.acl('/n')?.acl).toEqual(d.tree.acl('/n')?.acl);
    expect(copy.acl('/n')?.stat.aclVersion).toBe(1);
    expect(copy.user('root')?.roles).toEqual(['admin']);
    // And the copy enforces them.
    let rev = d.rev;
    const apply = (c: Command, who: string[]) => copy.apply({ timeMs: 1, identity: who, command: c }, ++rev);
    expect(apply(create('/n/z'), ALICE).result.ok).toBe(false);
    expect(apply(set('/n', 'ok'), ALICE).result.ok).toBe(true);
  });

  it('incremental changes (takeChanges) rebuild the same tree as records()', () => {
    const d = new Driver();
    const kv = new Map<string, Uint8Array>();
    const flush = (): void => {
      for (const m of d.tree.takeChanges()) {
        const k = Buffer.from(m.key).toString('hex');
        if (m.value === null) kv.delete(k);
        else kv.set(k, m.value.slice());
      }
    };
    d.ok(addUser('root', ['admin']));
    d.ok(create('/a'));
    d.ok(setAcl('/a', [user('root', ALL_PERMS)]));
    d.ok(enable);
    flush();
    d.ok(addUser('tmp'), undefined, ROOT);
    d.ok({ type: 'deleteUser', name: 'tmp' }, undefined, ROOT);
    flush();
    const back = DataTree.fromRecords(
      [...kv.entries()].map(([k, v]) => [new Uint8Array(Buffer.from(k, 'hex')), v] as const),
    );
    expect(back.digest()).toBe(d.tree.digest());
    expect(back.userNames()).toEqual(['root']);
  });

  it('a tree that never used ACLs keeps format-1 node records (old data reads as before)', () => {
    const d = new Driver();
    d.ok(create('/a', { data: 'x' }));
    for (const [k, v] of d.tree.records()) if (k[0] === 0x6e) expect(v[0]).toBe(1);
    const n = decodeNode(
      new Uint8Array([...[...d.tree.records()].find(([k]) => k[0] === 0x6e && k.length > 2)![1]]),
    );
    expect(n.acl).toBe(OPEN_ACL);
    expect(n.aclVersion).toBe(0);
  });

  it('envelopes stay format 1 without identity or ACL, and round-trip identity and ACLs in format 2', () => {
    const plain = encodeEnvelope({ timeMs: 5, command: create('/a') });
    expect(plain[0]).toBe(1);
    const op: MultiOp = { ...create('/b'), acl: [user('alice', PERM.read | PERM.admin)] };
    const env = { timeMs: 5, identity: ['user:alice', 'x509:CN=a'], command: multi(op, set('/b', 'x')) };
    const b = encodeEnvelope(env);
    expect(b[0]).toBe(2);
    expect(decodeEnvelope(b)).toEqual(env);
    for (const c of [
      setAcl('/a', [user('a', 1)], 3),
      addUser('bob', ['admin', 'ops']),
      { type: 'deleteUser', name: 'bob' } as Command,
      { type: 'setPassword', name: 'bob', credential: cred(3) } as Command,
      { type: 'grantRole', name: 'bob', role: 'admin' } as Command,
      { type: 'revokeRole', name: 'bob', role: 'admin' } as Command,
      enable,
      { type: 'authDisable' } as Command,
    ]) {
      expect(decodeEnvelope(encodeEnvelope({ timeMs: 1, command: c }))).toEqual({ timeMs: 1, command: c });
    }
  });

  it('results carry the ACL version; format-1 results (before it existed) decode with 0', () => {
    const d = new Driver();
    const r = d.ok(create('/a'));
    const enc = encodeResult({ ok: true, value: r });
    expect(decodeResult(enc)).toEqual({ ok: true, value: r });
    // A format-1 create result: same bytes without the trailing aclVersion varint.
    const v1 = enc.slice(0, enc.length - 1);
    v1[0] = 1;
    expect(decodeResult(v1)).toEqual({ ok: true, value: r });
  });
});
