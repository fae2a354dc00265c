/**
 * The public API against a real three-member cluster: every RPC on the leader and on followers,
 * the error contract, forwarding, linearizable reads, watches across members and sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, events, failure, until, watchStream, type Msg, type Stub } from './harness.js';

const OK_STATUS = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
};

let cluster: TestCluster;
let leader: number;
let follower: number;
let other: number;
let L: Stub;
let F: Stub;
let O: Stub;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
  leader = await cluster.waitForLeader();
  [follower, other] = [1, 2, 3].filter((i) => i !== leader) as [number, number];
  L = cluster.arbor(leader);
  F = cluster.arbor(follower);
  O = cluster.arbor(other);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

const data = (s: string): Buffer => Buffer.from(s);

describe('writes on any member, reads on any member', () => {
  it.each([
    ['leader', () => L],
    ['follower', () => F],
  ])('create/get/set/delete through the %s', async (who, stub) => {
    const p = `/crud-${who}`;
    const created = await call(stub(), 'Create', { path: p, data: data('v0') });
    expect(created.path).toBe(p);
    expect(created.stat.version).toBe('0');
    // A linearizable read on another member sees the write at once.
    const got = await call(O, 'Get', { path: p });
    expect(got.data.toString()).toBe('v0');
    const set = await call(stub(), 'Set', { path: p, data: data('v1'), expected_version: 0 });
    expect(set.stat.version).toBe('1');
    expect(Number(set.stat.modified_revision)).toBeGreaterThan(Number(created.stat.created_revision));
    const bad = await failure(call(stub(), 'Set', { path: p, data: data('v2'), expected_version: 0 }));
    expect(bad.code).toBe(OK_STATUS.FAILED_PRECONDITION);
    expect(bad.details).toMatch(/version/);
    expect((await call(O, 'Get', { path: p })).data.toString()).toBe('v1');
    await call(stub(), 'Delete', { path: p, expected_version: 1 });
    const ex = await call(O, 'Exists', { path: p });
    expect(ex.exists).toBe(false);
  });

  it('sequential nodes get increasing 10-digit suffixes from the parent counter', async () => {
    await call(L, 'Create', { path: '/seq' });
    const names: string[] = [];
    for (const stub of [L, F, O, F]) {
      const r = await call(stub, 'Create', { path: '/seq/job-', mode: 2 });
      names.push(r.path as string);
    }
    expect(names).toEqual([0, 1, 2, 3].map((i) => `/seq/job-${String(i).padStart(10, '0')}`));
    const kids = await call(F, 'GetChildren', { path: '/seq' });
    expect(kids.children).toEqual(names.map((n) => n.slice('/seq/'.length)));
    expect(kids.stat.num_children).toBe(4);
  });

  it('the revision of a write is the same on every member', async () => {
    const r = await call(F, 'Create', { path: '/same-rev', data: data('x') });
    const stats = await Promise.all([L, F, O].map((s) => call(s, 'Get', { path: '/same-rev' })));
    for (const s of stats) expect(s.stat.created_revision).toBe(r.stat.created_revision);
  });

  it('Multi applies all ops or none and names the failing op', async () => {
    await call(L, 'Create', { path: '/multi' });
    const ok = await call(F, 'Multi', {
      ops: [
        { create: { path: '/multi/a', data: data('a') } },
        { create: { path: '/multi/b', data: data('b') } },
        { check: { path: '/multi', expected_version: 0 } },
        { set: { path: '/multi/a', data: data('a2'), expected_version: 0 } },
      ],
    });
    expect(ok.results).toHaveLength(4);
    expect(ok.results[0].create.path).toBe('/multi/a');
    const e = await failure(
      call(O, 'Multi', {
        ops: [{ create: { path: '/multi/c' } }, { delete: { path: '/multi/b', expected_version: 7 } }],
      }),
    );
    expect(e.code).toBe(OK_STATUS.FAILED_PRECONDITION);
    expect(e.metadata.get('arbor-failed-op')).toEqual(['1']);
    expect((await call(L, 'Exists', { path: '/multi/c' })).exists).toBe(false);
    expect((await call(L, 'Get', { path: '/multi/a' })).data.toString()).toBe('a2');
  });

  it('recursive delete removes a subtree; a plain delete of a parent is refused', async () => {
    await call(L, 'Create', { path: '/rec/a/b', create_parents: true });
    const e = await failure(call(F, 'Delete', { path: '/rec', expected_version: -1 }));
    expect(e.code).toBe(OK_STATUS.FAILED_PRECONDITION);
    await call(F, 'Delete', { path: '/rec', expected_version: -1, recursive: true });
    expect((await call(O, 'Exists', { path: '/rec/a' })).exists).toBe(false);
  });

  it('serializable reads answer from the member; Sync makes it current', async () => {
    const w = await call(L, 'Create', { path: '/sync-me', data: data('s') });
    const s = await call(F, 'Sync', { path: '/' });
    expect(Number(s.revision)).toBeGreaterThanOrEqual(Number(w.stat.created_revision));
    const r = await call(F, 'Get', { path: '/sync-me', consistency: 1 });
    expect(r.data.toString()).toBe('s');
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const cases: [string, string, Msg, number, RegExp][] = [
    ['relative path', 'Create', { path: 'a/b' }, OK_STATUS.INVALID_ARGUMENT, /must start with '\/'/],
    ['trailing slash', 'Create', { path: '/a/' }, OK_STATUS.INVALID_ARGUMENT, /\//],
    ['dot segment', 'Get', { path: '/a/../b' }, OK_STATUS.INVALID_ARGUMENT, /\.\./],
    ['empty segment', 'Exists', { path: '//a' }, OK_STATUS.INVALID_ARGUMENT, /empty/],
    ['control character', 'Create', { path: '/a\u0001' }, OK_STATUS.INVALID_ARGUMENT, /control/],
    [
      'oversized data',
      'Create',
      { path: '/big', data: Buffer.alloc(1024 * 1024 + 1) },
      OK_STATUS.INVALID_ARGUMENT,
      /limit/,
    ],
    ['missing parent', 'Create', { path: '/no/parent' }, OK_STATUS.NOT_FOUND, /parent/],
    ['missing node', 'Get', { path: '/missing' }, OK_STATUS.NOT_FOUND, /does not exist/],
    ['bad mode', 'Create', { path: '/m', mode: 42 }, OK_STATUS.INVALID_ARGUMENT, /mode/],
    ['ephemeral without session', 'Create', { path: '/e', mode: 1 }, OK_STATUS.INVALID_ARGUMENT, /session/],
    [
      'unknown session',
      'Create',
      { path: '/e', mode: 1, session_id: '999999' },
      OK_STATUS.FAILED_PRECONDITION,
      /session/,
    ],
    ['ttl without ttl_ms', 'Create', { path: '/t', mode: 5 }, OK_STATUS.INVALID_ARGUMENT, /ttl/i],
    ['delete the root', 'Delete', { path: '/', expected_version: -1 }, OK_STATUS.INVALID_ARGUMENT, /root/],
  ];
  it.each(cases)('%s', async (_name, method, req, code, message) => {
    const before = await call(L, 'GetChildren', { path: '/' });
    const e = await failure(call(F, method, req));
    expect(e.code).toBe(code);
    expect(e.details).toMatch(message);
    // The member's log line for this refusal carries the same id.
    expect(e.metadata.get('arbor-request-id')[0]).toMatch(/^[0-9a-z]+-[0-9a-z]+-[0-9a-z]+$/);
    const after = await call(L, 'GetChildren', { path: '/' });
    expect(after.children).toEqual(before.children);
    expect(after.stat).toEqual(before.stat);
  });

  it('an existing node is not created twice', async () => {
    await call(L, 'Create', { path: '/twice' });
    const e = await failure(call(F, 'Create', { path: '/twice' }));
    expect(e.code).toBe(OK_STATUS.ALREADY_EXISTS);
  });
});

describe('watches', () => {
  it('a watch on a follower sees writes made on another member, in order', async () => {
    const made = await call(L, 'Create', { path: '/w' });
    const w = watchStream(F, {
      path: '/w',
      scope: 2,
      start_revision: Number(made.stat.created_revision) + 1,
    });
    await until(() => w.responses.find((r) => r.created), 10_000, 'created');
    for (let i = 0; i < 20; i++)
      await call(O, 'Set', { path: '/w', data: data(String(i)), expected_version: -1 });
    await call(L, 'Create', { path: '/w/child' });
    const evs = await until(() => (events(w).length >= 21 ? events(w) : undefined), 20_000, 'events');
    expect(evs.slice(0, 20).map((e) => e.data.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    expect(evs[20]).toMatchObject({ type: 1, path: '/w/child' });
    const revs = evs.map((e) => Number(e.revision));
    expect([...revs].sort((a, b) => a - b)).toEqual(revs);
    expect(new Set(revs).size).toBe(revs.length);
    w.cancel();
  });

  it('CHILDREN scope reports children appearing and disappearing, not data changes', async () => {
    await call(L, 'Create', { path: '/kids' });
    const w = watchStream(O, { path: '/kids', scope: 1 });
    await until(() => w.responses.find((r) => r.created), 10_000, 'created');
    await call(F, 'Set', { path: '/kids', data: data('ignored'), expected_version: -1 });
    await call(F, 'Create', { path: '/kids/a' });
    await call(F, 'Delete', { path: '/kids/a', expected_version: -1 });
    const evs = await until(() => (events(w).length >= 2 ? events(w) : undefined), 20_000, 'events');
    expect(evs.map((e) => [e.type, e.path])).toEqual([
      [1, '/kids/a'],
      [3, '/kids/a'],
    ]);
    w.cancel();
  });

  it('resumes from start_revision on a different member with no gap and no duplicate', async () => {
    const made = await call(L, 'Create', { path: '/resume' });
    // Start right after the create: a follower that has not applied it yet must not report it.
    const first = watchStream(F, {
      path: '/resume',
      scope: 0,
      start_revision: Number(made.stat.created_revision) + 1,
    });
    await until(() => first.responses.find((r) => r.created), 10_000, 'created');
    for (let i = 0; i < 5; i++)
      await call(L, 'Set', { path: '/resume', data: data(`a${i}`), expected_version: -1 });
    const seen = await until(
      () => (events(first).length >= 5 ? events(first) : undefined),
      20_000,
      'first events',
    );
    first.cancel();
    const last = Number(seen[seen.length - 1]!.revision);
    // Writes while the client is away.
    for (let i = 0; i < 5; i++)
      await call(O, 'Set', { path: '/resume', data: data(`b${i}`), expected_version: -1 });
    const second = watchStream(O, { path: '/resume', scope: 0, start_revision: last + 1 });
    const more = await until(
      () => (events(second).length >= 5 ? events(second) : undefined),
      20_000,
      'replayed events',
    );
    expect(more.map((e) => e.data.toString())).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(Number(more[0]!.revision)).toBeGreaterThan(last);
    second.cancel();
  });

  it('a start_revision older than the retained history ends with OUT_OF_RANGE naming the oldest revision', async () => {
    // History is in memory from process start; restarting a member forgets what came before.
    await call(L, 'Create', { path: '/old' });
    await cluster.terminate(other);
    cluster.restart(other);
    const O2 = cluster.arbor(other);
    await until(async () => (await call(O2, 'Sync', {}, 2000)).revision, 20_000, 'member back');
    const w = watchStream(O2, { path: '/old', scope: 0, start_revision: 1 });
    await until(() => (w.ended ? true : undefined), 10_000, 'stream end');
    expect(w.error?.code).toBe(OK_STATUS.OUT_OF_RANGE);
    expect(w.error?.details).toMatch(/oldest available revision is \d+/);
    O = O2;
  });
});

describe('sessions', () => {
  it('ephemerals of an expired session are deleted through Raft and watchers see DELETED', async () => {
    await call(L, 'Create', { path: '/svc' });
    const s = await call(F, 'OpenSession', { timeout_ms: 1500 });
    const id = s.session_id as string;
    expect(BigInt(id)).toBeGreaterThan(0n);
    const eph = await call(F, 'Create', {
      path: '/svc/inst-',
      mode: 3,
      session_id: id,
      data: data('10.0.0.1'),
    });
    expect(eph.stat.ephemeral_owner).toBe(id);
    const w = watchStream(O, { path: '/svc', scope: 1 });
    await until(() => w.responses.find((r) => r.created), 10_000, 'created');
    // No keep-alives: the leader expires the session after its timeout.
    const evs = await until(() => events(w).find((e) => e.type === 3), 20_000, 'DELETED event');
    expect(evs.path).toBe(eph.path);
    for (const stub of [L, F, O]) expect((await call(stub, 'Exists', { path: eph.path })).exists).toBe(false);
    const late = await failure(call(F, 'Create', { path: '/svc/late', mode: 1, session_id: id }));
    expect(late.code).toBe(OK_STATUS.FAILED_PRECONDITION);
    w.cancel();
  });

  it('keep-alives through a follower keep a session and its ephemerals alive', async () => {
    const s = await call(O, 'OpenSession', { timeout_ms: 1000 });
    const id = s.session_id as string;
    await call(O, 'Create', { path: '/alive', mode: 1, session_id: id });
    const ka = (F.KeepAlive as () => any).call(F);
    const ttls: number[] = [];
    ka.on('data', (r: Msg) => ttls.push(Number(r.ttl_ms)));
    ka.on('error', () => undefined);
    const timer = setInterval(() => ka.write({ session_id: id }), 200);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await call(L, 'Exists', { path: '/alive' })).exists).toBe(true);
    expect(ttls.length).toBeGreaterThan(5);
    expect(ttls.every((t) => t === 1000)).toBe(true);
    clearInterval(timer);
    ka.end();
    await call(F, 'CloseSession', { session_id: id });
    expect((await call(O, 'Exists', { path: '/alive' })).exists).toBe(false);
  });
});

describe('the pipelined session stream', () => {
  it("answers by id and applies a stream's writes in the order sent", async () => {
    await call(L, 'Create', { path: '/pipe' });
    const st = (F.Stream as () => any).call(F);
    const answers = new Map<string, Msg>();
    st.on('data', (r: Msg) => answers.set(String(r.id), r));
    st.on('error', () => undefined);
    const n = 200;
    for (let i = 1; i <= n; i++)
      st.write({ id: i, set: { path: '/pipe', data: data(String(i)), expected_version: i - 1 } });
    st.write({ id: n + 1, get: { path: '/pipe' } });
    await until(() => (answers.size === n + 1 ? true : undefined), 30_000, 'answers');
    for (let i = 1; i <= n; i++) expect(answers.get(String(i))?.set?.stat?.version).toBe(String(i));
    // The read was sent after the writes: it sees the last one.
    expect(answers.get(String(n + 1))?.get?.data.toString()).toBe(String(n));
    st.end();
  });
});

describe('cluster service', () => {
  it('Status names the same leader everywhere and lists the members', async () => {
    const sts = await Promise.all(
      [leader, follower, other].map((i) => call(cluster.cluster(i), 'Status', {})),
    );
    for (const s of sts) {
      expect(Number(s.leader_id)).toBe(leader);
      expect(s.members.map((m: Msg) => Number(m.id))).toEqual([1, 2, 3]);
    }
  });
});
