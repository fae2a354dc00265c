import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/tree/commands.js';
import { DataTree } from '../../src/tree/data-tree.js';
import type { TreeErrorCode } from '../../src/tree/errors.js';
import { treeLimits } from '../../src/tree/limits.js';
import { check, create, del, Driver, multi, set, state, text } from './helpers.js';

describe('the root', () => {
  it('exists in a fresh tree at revision 0 with no children', () => {
    const t = new DataTree();
    expect(t.size()).toBe(1);
    expect(t.exists('/')).toMatchObject({ createdRevision: 0, version: 0, numChildren: 0 });
    expect(t.children('/')).toEqual({ names: [], stat: t.exists('/') });
  });

  it('can be set but not deleted or created', () => {
    const d = new Driver();
    expect(d.ok(set('/', 'root data'))).toMatchObject({ type: 'set', stat: { version: 1 } });
    expect(d.fail(del('/')).message).toBe("the root '/' cannot be deleted: name a znode below it");
    expect(d.fail(del('/', -1, true)).code).toBe('invalidArgument');
    expect(d.fail(create('/')).code).toBe('nodeExists');
  });
});

describe('errors say what to fix', () => {
  const setup = (d: Driver): void => {
    d.ok(create('/a', { data: 'x' }));
    d.ok(create('/a/b'));
    d.ok(create('/eph', { mode: 'ephemeral', session: d.session() }));
  };
  const cases: [string, Command, TreeErrorCode, string][] = [
    [
      'create without parent',
      create('/x/y'),
      'noNode',
      "parent '/x' does not exist: create it first or set createParents",
    ],
    [
      'create existing',
      create('/a'),
      'nodeExists',
      "'/a' already exists: use set to change it, or another path",
    ],
    [
      'create under ephemeral',
      create('/eph/c'),
      'noChildrenForEphemerals',
      "'/eph' is ephemeral and cannot have children",
    ],
    [
      'create parents through ephemeral',
      create('/eph/c/d', { parents: true }),
      'noChildrenForEphemerals',
      "'/eph' is ephemeral",
    ],
    [
      'ephemeral of a dead session',
      create('/e2', { mode: 'ephemeral', session: 999n }),
      'sessionExpired',
      'session 0x3e7 is not open',
    ],
    [
      'ephemeral without session',
      create('/e3', { mode: 'ephemeral' }),
      'invalidArgument',
      'needs the owning session: set sessionId',
    ],
    [
      'ttl without ttlMs',
      create('/t', { mode: 'persistentWithTtl' }),
      'invalidArgument',
      'needs ttlMs between 1 and',
    ],
    [
      'ttlMs without ttl mode',
      create('/t', { ttlMs: 5 }),
      'invalidArgument',
      'ttlMs is only allowed with mode persistentWithTtl',
    ],
    ['bad path', create('a'), 'invalidPath', "path must start with '/'"],
    ['set missing', set('/nope', ''), 'noNode', "'/nope' does not exist"],
    [
      'set bad version',
      set('/a', 'y', 3),
      'badVersion',
      "'/a' is at version 0, not the expected 3: read it again and retry",
    ],
    [
      'set version below -1',
      set('/a', 'y', -2),
      'invalidArgument',
      'expectedVersion must be -1 (any version) or a version >= 0: got -2',
    ],
    ['delete missing', del('/nope'), 'noNode', "'/nope' does not exist"],
    ['delete bad version', del('/a/b', 7), 'badVersion', 'not the expected 7'],
    ['delete non-empty', del('/a'), 'notEmpty', "'/a' has 1 children: delete them first or set recursive"],
    ['check at top level', check('/a', 0), 'invalidArgument', 'check is only allowed inside a multi'],
    [
      'close unknown session',
      { type: 'closeSession', sessionId: 77n } as Command,
      'sessionExpired',
      'session 0x4d is not open',
    ],
    [
      'open session with bad timeout',
      { type: 'openSession', timeoutMs: 0 },
      'invalidArgument',
      'session timeoutMs must be between 1 and',
    ],
  ];
  it.each(cases)('%s → %s', (_name, cmd, code, message) => {
    const d = new Driver();
    setup(d);
    const before = { digest: d.tree.digest(), state: state(d.tree) };
    d.tree.takeChanges();
    const e = d.fail(cmd);
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
    // A failed command changes nothing: digest, records, pending changes (but the meta record).
    expect(d.tree.digest()).toBe(before.digest);
    expect(state(d.tree)).toEqual(before.state);
    expect(d.tree.takeChanges().map((m) => m.key)).toEqual([new Uint8Array([0x6d])]);
  });

  it('data over the limit is tooLarge; too many children is limitExceeded', () => {
    const d = new Driver({ maxDataBytes: 4, maxChildren: 2 });
    const e = d.fail(create('/a', { data: '12345' }));
    expect(e).toMatchObject({
      code: 'tooLarge',
      message: 'data is 5 bytes; the limit is 4 bytes: store less per znode',
    });
    expect(d.fail(set('/', '12345')).code).toBe('tooLarge');
    d.ok(create('/a'));
    d.ok(create('/b'));
    expect(d.fail(create('/c'))).toMatchObject({
      code: 'limitExceeded',
      message: expect.stringContaining("'/' already has 2 children"),
    });
    expect(d.fail(create('/c/d', { parents: true })).code).toBe('limitExceeded');
    expect(d.tree.exists('/c')).toBeUndefined();
  });
});

describe('stats and versions', () => {
  it('a create sets revisions to the entry revision and times to the envelope time', () => {
    const d = new Driver();
    d.timeMs = 5000;
    const r = d.ok(create('/a', { data: 'hello' }));
    expect(r).toEqual({
      type: 'create',
      path: '/a',
      stat: {
        createdRevision: 1,
        modifiedRevision: 1,
        childrenRevision: 1,
        version: 0,
        childrenVersion: 0,
        createdMs: 5000,
        modifiedMs: 5000,
        ephemeralOwner: 0n,
        dataLength: 5,
        numChildren: 0,
        aclVersion: 0,
      },
    });
    expect(d.tree.exists('/')).toMatchObject({
      childrenVersion: 1,
      childrenRevision: 1,
      numChildren: 1,
      version: 0,
    });
  });

  it('set increments version and moves modified revision/time only', () => {
    const d = new Driver();
    d.ok(create('/a', { data: 'v0' }));
    d.timeMs += 10;
    d.ok(set('/a', 'v1', 0));
    d.timeMs += 10;
    const r = d.ok(set('/a', 'v2-long', 1));
    expect(r).toMatchObject({
      type: 'set',
      stat: { version: 2, modifiedRevision: 3, createdRevision: 1, dataLength: 7 },
    });
    expect(d.tree.exists('/a')).toMatchObject({ createdMs: 1_000_000, modifiedMs: 1_000_020 });
    expect(text(d.tree.get('/a')?.data)).toBe('v2-long');
  });

  it('child create and delete bump the parent childrenVersion and childrenRevision', () => {
    const d = new Driver();
    d.ok(create('/p'));
    d.ok(create('/p/a'));
    d.ok(create('/p/b'));
    d.ok(del('/p/a'));
    expect(d.tree.exists('/p')).toMatchObject({
      childrenVersion: 3,
      childrenRevision: 4,
      version: 0,
      modifiedRevision: 1,
    });
    expect(d.tree.children('/p')?.names).toEqual(['b']);
  });

  it('children are returned sorted', () => {
    const d = new Driver();
    for (const n of ['c', 'a', 'B', 'b']) d.ok(create('/' + n));
    expect(d.tree.children('/')?.names).toEqual(['B', 'a', 'b', 'c']);
    expect(d.tree.children('/nope')).toBeUndefined();
  });

  it('the tree keeps its own copy of the data', () => {
    const d = new Driver();
    const c = create('/a', { data: 'abc' });
    d.ok(c);
    c.data[0] = 0x7a;
    expect(text(d.tree.get('/a')?.data)).toBe('abc');
  });
});

describe('createParents', () => {
  it('creates missing ancestors as persistent nodes in the same revision, parents first', () => {
    const d = new Driver();
    d.ok(create('/a'));
    const o = d.apply(
      create('/a/b/c/d', { data: 'leaf', mode: 'ephemeral', session: d.session(), parents: true }),
    );
    expect(o.result.ok).toBe(true);
    expect(o.events.map((e) => [e.type, e.path, e.revision])).toEqual([
      ['created', '/a/b', 3],
      ['created', '/a/b/c', 3],
      ['created', '/a/b/c/d', 3],
    ]);
    expect(d.tree.exists('/a/b')?.ephemeralOwner).toBe(0n);
    expect(d.tree.exists('/a/b/c/d')?.ephemeralOwner).toBe(2n);
  });
});

describe('sequential nodes', () => {
  it('append a 10-digit suffix from the parent counter, never reused', () => {
    const d = new Driver();
    d.ok(create('/q'));
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = d.ok(create('/q/job-', { mode: 'persistentSequential' }));
      if (r.type === 'create') names.push(r.path);
    }
    expect(names).toEqual(['/q/job-0000000000', '/q/job-0000000001', '/q/job-0000000002']);
    d.ok(del('/q/job-0000000002'));
    d.ok(create('/q/plain'));
    const r = d.ok(create('/q/', { mode: 'persistentSequential' }));
    expect(r).toMatchObject({ path: '/q/0000000003' });
  });

  it('the counter is per parent and a failed sequential create does not consume it', () => {
    const d = new Driver();
    d.ok(create('/a'));
    d.ok(create('/b'));
    expect(d.ok(create('/a/x', { mode: 'persistentSequential' }))).toMatchObject({ path: '/a/x0000000000' });
    expect(d.ok(create('/b/x', { mode: 'persistentSequential' }))).toMatchObject({ path: '/b/x0000000000' });
    d.ok(create('/a/x0000000001')); // squat the next name
    expect(d.fail(create('/a/x', { mode: 'persistentSequential' })).code).toBe('nodeExists');
    // The failed create rolled the counter back: the same name is tried again.
    expect(d.fail(create('/a/x', { mode: 'persistentSequential' })).path).toBe('/a/x0000000001');
  });

  it('ephemeral sequential nodes are owned by the session', () => {
    const d = new Driver();
    const s = d.session();
    d.ok(create('/l'));
    const r = d.ok(create('/l/lock-', { mode: 'ephemeralSequential', session: s }));
    expect(r).toMatchObject({ path: '/l/lock-0000000000', stat: { ephemeralOwner: s } });
  });
});

describe('sessions and ephemerals', () => {
  it('session ids are the revision of the openSession entry', () => {
    const d = new Driver();
    d.ok(create('/x'));
    expect(d.ok({ type: 'openSession', timeoutMs: 3000 })).toEqual({
      type: 'openSession',
      sessionId: 2n,
      timeoutMs: 3000,
    });
    expect(d.tree.sessions()).toEqual([{ sessionId: 2n, timeoutMs: 3000 }]);
  });

  it('closing a session deletes its ephemerals (events in path order) and nothing else', () => {
    const d = new Driver();
    const s1 = d.session();
    const s2 = d.session();
    d.ok(create('/p'));
    d.ok(create('/p/z', { mode: 'ephemeral', session: s1 }));
    d.ok(create('/p/a', { mode: 'ephemeral', session: s1 }));
    d.ok(create('/p/other', { mode: 'ephemeral', session: s2 }));
    expect(d.tree.ephemeralsOf(s1)).toEqual(['/p/a', '/p/z']);
    const o = d.apply({ type: 'closeSession', sessionId: s1 });
    expect(o.result).toEqual({ ok: true, value: { type: 'closeSession' } });
    expect(o.events.map((e) => [e.type, e.path])).toEqual([
      ['deleted', '/p/a'],
      ['deleted', '/p/z'],
    ]);
    expect(d.tree.children('/p')?.names).toEqual(['other']);
    expect(d.tree.sessions().map((x) => x.sessionId)).toEqual([s2]);
    expect(d.fail(create('/p/late', { mode: 'ephemeral', session: s1 })).code).toBe('sessionExpired');
  });

  it('expireSessions skips unknown and repeated ids and reports the ones expired', () => {
    const d = new Driver();
    const s1 = d.session();
    const s2 = d.session();
    d.ok(create('/e', { mode: 'ephemeral', session: s2 }));
    const o = d.apply({ type: 'expireSessions', sessionIds: [s2, 99n, s2, s1] as never });
    expect(o.result).toEqual({ ok: true, value: { type: 'expireSessions', expired: [s2, s1] } });
    expect(o.events.map((e) => e.path)).toEqual(['/e']);
    expect(d.tree.sessions()).toEqual([]);
  });
});

describe('delete', () => {
  it('recursive delete removes the subtree, children before parents, one event each', () => {
    const d = new Driver();
    for (const p of ['/a', '/a/b', '/a/b/c', '/a/a', '/z']) d.ok(create(p));
    const o = d.apply(del('/a', 0, true));
    expect(o.result.ok).toBe(true);
    expect(o.events.map((e) => [e.type, e.path])).toEqual([
      ['deleted', '/a/a'],
      ['deleted', '/a/b/c'],
      ['deleted', '/a/b'],
      ['deleted', '/a'],
    ]);
    expect(d.tree.size()).toBe(2);
    expect(d.tree.exists('/')).toMatchObject({ numChildren: 1, childrenVersion: 3, childrenRevision: 6 });
  });

  it('recursive delete drops ephemerals from their session', () => {
    const d = new Driver();
    const s = d.session();
    d.ok(create('/a'));
    d.ok(create('/a/e', { mode: 'ephemeral', session: s }));
    d.ok(del('/a', -1, true));
    expect(d.tree.ephemeralsOf(s)).toEqual([]);
    d.ok({ type: 'closeSession', sessionId: s });
  });

  it('a deleted event carries the last data and stat', () => {
    const d = new Driver();
    d.ok(create('/a', { data: 'bye' }));
    const [e] = d.apply(del('/a')).events;
    expect(e).toMatchObject({
      type: 'deleted',
      path: '/a',
      revision: 2,
      stat: { version: 0, createdRevision: 1 },
    });
    expect(text(e?.data)).toBe('bye');
  });
});

describe('events', () => {
  it('create, set and delete produce one event each with the post-change stat', () => {
    const d = new Driver();
    expect(d.apply(create('/a', { data: '1' })).events).toEqual([
      expect.objectContaining({
        type: 'created',
        path: '/a',
        revision: 1,
        stat: expect.objectContaining({ version: 0 }),
      }),
    ]);
    const up = d.apply(set('/a', '22')).events;
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({ type: 'updated', revision: 2, stat: { version: 1, dataLength: 2 } });
    expect(text(up[0]?.data)).toBe('22');
    expect(d.apply(check('/a', 1) as never).events).toEqual([]);
  });

  it('failed commands produce no events', () => {
    const d = new Driver();
    d.ok(create('/a'));
    expect(d.apply(multi(create('/b'), create('/a'))).events).toEqual([]);
  });
});

describe('containers', () => {
  it('are swept only after their last child goes, and only if they ever had one', () => {
    const d = new Driver();
    d.ok(create('/never', { mode: 'container' }));
    d.ok(create('/c', { mode: 'container' }));
    d.ok(create('/c/x'));
    expect(d.tree.findSweepTargets(d.timeMs)).toEqual([]);
    d.ok(del('/c/x'));
    const targets = d.tree.findSweepTargets(d.timeMs);
    expect(targets).toEqual([{ path: '/c', expectedVersion: 0, expectedChildrenVersion: 2 }]);
    const o = d.apply({ type: 'sweep', targets });
    expect(o.result).toEqual({ ok: true, value: { type: 'sweep', deleted: ['/c'] } });
    expect(o.events.map((e) => [e.type, e.path])).toEqual([['deleted', '/c']]);
    expect(d.tree.exists('/never')).toBeDefined();
  });

  it('a target that changed since the leader chose it is skipped, not an error', () => {
    const d = new Driver();
    d.ok(create('/c', { mode: 'container' }));
    d.ok(create('/c/x'));
    d.ok(del('/c/x'));
    const targets = d.tree.findSweepTargets(d.timeMs);
    d.ok(create('/c/y')); // a child came back
    const o = d.apply({ type: 'sweep', targets: [...targets, { path: '/gone', expectedVersion: 0 }] });
    expect(o.result).toEqual({ ok: true, value: { type: 'sweep', deleted: [] } });
    d.ok(del('/c/y'));
    // Same version but a different childrenVersion: still skipped.
    expect(d.apply({ type: 'sweep', targets }).result).toMatchObject({ value: { deleted: [] } });
  });
});

describe('TTL nodes', () => {
  it('are swept when childless and unmodified for ttlMs, re-checked with the envelope time', () => {
    const d = new Driver();
    d.ok(create('/t', { mode: 'persistentWithTtl', ttlMs: 1000 }));
    expect(d.tree.findSweepTargets(d.timeMs + 999)).toEqual([]);
    const targets = d.tree.findSweepTargets(d.timeMs + 1000);
    expect(targets).toEqual([{ path: '/t', expectedVersion: 0, expectedChildrenVersion: 0 }]);
    // Applied with an envelope time before expiry (another leader's clock): skipped.
    d.timeMs += 500;
    expect(d.apply({ type: 'sweep', targets }).result).toMatchObject({ value: { deleted: [] } });
    d.timeMs += 500;
    expect(d.apply({ type: 'sweep', targets }).result).toMatchObject({ value: { deleted: ['/t'] } });
  });

  it('a modification or a child postpones the sweep', () => {
    const d = new Driver();
    d.ok(create('/t', { mode: 'persistentWithTtl', ttlMs: 1000 }));
    d.timeMs += 800;
    d.ok(set('/t', 'touch'));
    expect(d.tree.findSweepTargets(d.timeMs + 999)).toEqual([]);
    d.ok(create('/t/child'));
    expect(d.tree.findSweepTargets(d.timeMs + 5000)).toEqual([]);
  });
});

describe('digest', () => {
  it('is equal for trees built in different orders and changes with any write', () => {
    const a = new Driver();
    const b = new Driver();
    a.ok(create('/x'));
    a.ok(create('/y'));
    b.ok(create('/y'));
    b.ok(create('/x'));
    // Same nodes but different creation revisions: differ.
    expect(a.tree.digest()).not.toBe(b.tree.digest());
    const c = new Driver();
    c.ok(create('/x'));
    c.ok(create('/y'));
    expect(c.tree.digest()).toBe(a.tree.digest());
    c.ok(set('/x', 'a'));
    a.ok(set('/x', 'b'));
    expect(c.tree.digest()).not.toBe(a.tree.digest());
  });

  it('limits are configurable per tree', () => {
    const t = new DataTree(treeLimits({ maxMultiOps: 1 }));
    const o = t.apply({ timeMs: 1, command: multi(create('/a'), create('/b')) }, 1);
    expect(!o.result.ok && o.result.error.code).toBe('limitExceeded');
  });
});

describe('apply invariants', () => {
  it('refuses a revision that does not increase', () => {
    const d = new Driver();
    d.ok(create('/a'));
    expect(() => d.tree.apply({ timeMs: 1, command: create('/b') }, 1)).toThrow(/strictly increase/);
  });
});
