/**
 * WatchMany (many watches over one stream, etcd's design) against an in-process one-member
 * cluster: each watch gets exactly its own events, in revision order; cancel ends one watch; a
 * refused or failed watch is answered for its watch_id alone while the stream and its other
 * watches go on; every watch counts against --max-watches-per-connection together with Watch
 * calls; events the watcher may not READ are never delivered. Auth is switched on last.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../src/bench/proc-cluster.js';
import { unavailable } from '../../src/server/errors.js';
import { startInProcess, waitServing, type InProcessMember } from './in-process.js';
import {
  ARBOR_PROTO,
  arborStub,
  call,
  recordStream,
  type Recorded,
  type Msg,
  type Stub,
} from '../integration/harness.js';
import { PERMS, bearer, callAs, login } from '../integration/auth-helpers.js';

const S = grpc.status;
const MAX_WATCHES = 5;
const NODE = 0;
const CHILDREN = 1;
const SUBTREE = 2;

let m: InProcessMember;
const stubs: grpc.Client[] = [];

/** A stub on its own connection (grpc-js would otherwise share one per address). */
function connect(): Stub {
  const s = arborStub(m.clientAddr, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  stubs.push(s);
  return s;
}

interface Many extends Recorded {
  /** Every response, those packed in a batch message each on its own, in order. */
  flat(): Msg[];
  create(id: number, path: string, scope?: number, startRevision?: number): void;
  cancel(id: number): void;
  of(id: number): Msg[];
  eventsOf(id: number): Msg[];
  /** Resolves with the first response for `id` that is `created` or `canceled`. */
  answer(id: number): Promise<Msg>;
  close(): void;
}

/** `batch`: the creates ask for packed responses (WatchCreateRequest.batch); `responses` are the messages. */
function watchMany(s: Stub, token?: string, batch = false): Many {
  const c = (s.WatchMany as (md: grpc.Metadata) => grpc.ClientDuplexStream<Msg, Msg>).call(s, bearer(token));
  const w: Many = {
    responses: [],
    error: undefined,
    ended: false,
    flat: () => w.responses.flatMap((r) => ((r.batch as Msg[]).length > 0 ? (r.batch as Msg[]) : [r])),
    create: (id, path, scope = NODE, startRevision = 0) =>
      void c.write({
        create: { watch_id: String(id), path, scope, start_revision: String(startRevision), batch },
      }),
    cancel: (id) => void c.write({ cancel: { watch_id: String(id) } }),
    of: (id) => w.flat().filter((r) => r.watch_id === String(id)),
    eventsOf: (id) => w.of(id).flatMap((r) => (r.events as Msg[] | undefined) ?? []),
    answer: async (id) => {
      let found: Msg | undefined;
      await until(
        () => (found = w.of(id).find((r) => r.created || r.canceled)) !== undefined,
        10_000,
        `an answer for watch ${id}`,
      );
      return found!;
    },
    close: () => c.cancel(),
  };
  return recordStream(c, w);
}

beforeAll(async () => {
  m = await startInProcess(['--max-watches-per-connection', String(MAX_WATCHES)]);
  const s = connect();
  await waitServing(s);
}, 60_000);

afterAll(async () => {
  for (const s of stubs) s.close();
  await m?.stop();
}, 30_000);

describe('WatchMany', () => {
  describe.each([
    ['one message per response', false],
    ['responses packed in batches', true],
  ])('%s', (_mode, batch) => {
    const t = batch ? '-b' : '';

    it('delivers to each watch on the stream exactly its own events, in revision order', async () => {
      const s = connect();
      await call(s, 'Create', { path: `/m${t}` });
      for (let i = 0; i < 3; i++) await call(s, 'Create', { path: `/m${t}/k${i}` });
      const w = watchMany(s, undefined, batch);
      for (let i = 0; i < 3; i++) w.create(i, `/m${t}/k${i}`);
      w.create(10, `/m${t}`, CHILDREN);
      w.create(11, `/m${t}`, SUBTREE);
      for (const id of [0, 1, 2, 10, 11]) expect((await w.answer(id)).created).toBe(true);
      const expected = new Map<number, number[]>([
        [0, []],
        [1, []],
        [2, []],
        [10, []],
        [11, []],
      ]);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 3; i++) {
          const r = await call(s, 'Set', {
            path: `/m${t}/k${i}`,
            data: Buffer.from(`v${round}`),
            expected_version: -1,
          });
          const rev = Number((r.stat as Msg).modified_revision);
          expected.get(i)!.push(rev);
          expected.get(11)!.push(rev);
        }
      }
      const created = await call(s, 'Create', { path: `/m${t}/new` });
      const rev = Number((created.stat as Msg).created_revision);
      expected.get(10)!.push(rev);
      expected.get(11)!.push(rev);
      await until(() => w.eventsOf(11).length === 10, 10_000, 'the subtree watch to see every write');
      await until(() => w.eventsOf(10).length === 1, 10_000, 'the children watch to see the create');
      for (const [id, revs] of expected) {
        const evs = w.eventsOf(id);
        expect(evs.map((e) => Number(e.revision))).toEqual(revs);
        if (id < 3) expect(new Set(evs.map((e) => e.path))).toEqual(new Set([`/m${t}/k${id}`]));
      }
      expect(w.eventsOf(10)[0]).toMatchObject({ path: `/m${t}/new`, type: 1 });
      // Every events response carries a revision at least that of its last event.
      for (const r of w.flat().filter((x) => (x.events as Msg[]).length > 0)) {
        expect(Number(r.revision)).toBeGreaterThanOrEqual(Number((r.events as Msg[]).at(-1)!.revision));
      }
      expect(w.error).toBeUndefined();
      w.close();
    });

    it('cancel ends one watch, answered with canceled and no error; the others go on', async () => {
      const s = connect();
      await call(s, 'Create', { path: `/c1${t}` });
      await call(s, 'Create', { path: `/c2${t}` });
      const w = watchMany(s, undefined, batch);
      w.create(1, `/c1${t}`);
      w.create(2, `/c2${t}`);
      await w.answer(1);
      await w.answer(2);
      w.cancel(1);
      await until(() => w.of(1).some((r) => r.canceled), 10_000, 'the cancel to be answered');
      expect(w.of(1).find((r) => r.canceled)!.error).toBeNull();
      await call(s, 'Set', { path: `/c1${t}`, data: Buffer.from('x'), expected_version: -1 });
      await call(s, 'Set', { path: `/c2${t}`, data: Buffer.from('x'), expected_version: -1 });
      await until(() => w.eventsOf(2).length === 1, 10_000, 'the other watch to see its event');
      expect(w.eventsOf(1)).toEqual([]);
      w.close();
    });

    it.each<[string, (w: Many) => void, number, RegExp]>([
      ['a path that is not absolute', (w) => w.create(1, 'no-slash'), S.INVALID_ARGUMENT, /path/],
      ['a scope out of range', (w) => w.create(1, '/', 7), S.INVALID_ARGUMENT, /scope 7 is not a WatchScope/],
    ])('refuses %s for that watch only', async (_what, create, code, message) => {
      const s = connect();
      await call(s, 'Create', { path: `/ok${t}` }).catch(() => undefined);
      const w = watchMany(s, undefined, batch);
      w.create(2, `/ok${t}`);
      await w.answer(2);
      create(w);
      const r = await w.answer(1);
      expect(r.canceled).toBe(true);
      expect(r.error).toMatchObject({ code });
      expect(r.error.message).toMatch(message);
      // The stream and its other watch live on.
      await call(s, 'Set', { path: `/ok${t}`, data: Buffer.from('y'), expected_version: -1 });
      await until(() => w.eventsOf(2).length === 1, 10_000, 'the other watch to see its event');
      w.create(3, `/ok${t}`);
      expect((await w.answer(3)).created).toBe(true);
      expect(w.ended).toBe(false);
      w.close();
    });
  });

  it('packs what one write fans out to the batch watches of a stream into one message, apart from watches without batch', async () => {
    const s = connect();
    await call(s, 'Create', { path: '/fan' });
    const c = (s.WatchMany as () => grpc.ClientDuplexStream<Msg, Msg>).call(s);
    const w = recordStream(c, { responses: [] as Msg[], error: undefined, ended: false });
    const create = (id: number, batch: boolean): void =>
      void c.write({ create: { watch_id: String(id), path: '/fan', batch } });
    // MAX_WATCHES (5) on this connection: four ask for batches, one does not.
    for (let id = 1; id <= 4; id++) create(id, true);
    create(5, false);
    const entries = (): Msg[] => w.responses.flatMap((r) => r.batch as Msg[]);
    await until(() => entries().filter((r) => r.created).length === 4, 10_000, 'the batch creates');
    await until(() => w.responses.some((r) => r.watch_id === '5' && r.created), 10_000, 'the plain create');
    const before = w.responses.length;
    const r = await call(s, 'Set', { path: '/fan', data: Buffer.from('one write'), expected_version: -1 });
    const rev = (r.stat as Msg).modified_revision;
    await until(() => w.responses.length === before + 2, 10_000, 'two messages for the write');
    const after = w.responses.slice(before);
    const packed = after.find((m) => (m.batch as Msg[]).length > 0)!;
    const plain = after.find((m) => (m.batch as Msg[]).length === 0)!;
    // One message carries the event for all four batch watches, and nothing of its own.
    expect((packed.batch as Msg[]).map((e) => e.watch_id).sort()).toEqual(['1', '2', '3', '4']);
    for (const e of packed.batch as Msg[]) {
      expect((e.events as Msg[]).map((ev) => [ev.path, ev.revision])).toEqual([['/fan', rev]]);
      expect(Number(e.revision)).toBeGreaterThanOrEqual(Number(rev));
    }
    expect(packed).toMatchObject({ watch_id: '0', events: [], created: false });
    expect(plain).toMatchObject({ watch_id: '5', events: [{ path: '/fan', revision: rev }] });
    // A cancel is answered in a batch too.
    c.write({ cancel: { watch_id: '3' } });
    await until(() => entries().some((e) => e.watch_id === '3' && e.canceled), 10_000, 'the cancel');
    // A batch stops at 256 KiB: three 100 KiB events go out in more than one message, all delivered.
    const big = Buffer.alloc(100 * 1024, 7);
    const n = w.responses.length;
    await call(s, 'Set', { path: '/fan', data: big, expected_version: -1 });
    await until(
      () => entries().filter((e) => (e.events as Msg[]).length > 0).length === 7,
      10_000,
      'big events',
    );
    const bigMessages = w.responses.slice(n).filter((m) => (m.batch as Msg[]).length > 0);
    expect(bigMessages.length).toBeGreaterThan(1);
    for (const m of bigMessages) expect((m.batch as Msg[]).length).toBeLessThanOrEqual(2);
    const last = entries().slice(-3);
    expect(last.map((e) => e.watch_id).sort()).toEqual(['1', '2', '4']);
    for (const e of last) expect(Buffer.from((e.events as Msg[])[0]!.data as Buffer).equals(big)).toBe(true);
    expect(w.error).toBeUndefined();
    c.cancel();
  });

  it('keeps the stream in order when a watch_id is reused by a watch without batch', async () => {
    const s = connect();
    await call(s, 'Create', { path: '/reuse' });
    const c = (s.WatchMany as () => grpc.ClientDuplexStream<Msg, Msg>).call(s);
    const w = recordStream(c, { responses: [] as Msg[], error: undefined, ended: false });
    // Back to back, so the member reads them in one turn: its batch is not yet flushed when the
    // plain create is answered.
    c.write({ create: { watch_id: '7', path: '/reuse', batch: true } });
    c.write({ cancel: { watch_id: '7' } });
    c.write({ create: { watch_id: '7', path: '/reuse', batch: false } });
    const seven = (): Msg[] =>
      w.responses
        .flatMap((r) => ((r.batch as Msg[]).length > 0 ? (r.batch as Msg[]) : [r]))
        .filter((r) => r.watch_id === '7');
    await until(() => seven().length === 3, 10_000, 'three answers for watch_id 7');
    expect(seven().map((r) => (r.created ? 'created' : r.canceled ? 'canceled' : '?'))).toEqual([
      'created',
      'canceled',
      'created',
    ]);
    c.cancel();
  });

  it('a watch the member cuts off and a start_revision before history get per-watch errors', async () => {
    const s = connect();
    await call(s, 'Create', { path: '/h' });
    const w = watchMany(s);
    w.create(1, '/h');
    await w.answer(1);
    // What a snapshot install does: history no longer connects and open watches end.
    const member = m.server.member;
    const applied = member.appliedRevision;
    member.watches.reset(applied, unavailable('snapshot installed'));
    await until(() => w.of(1).some((r) => r.canceled), 10_000, 'the cut-off to be reported');
    expect(w.of(1).find((r) => r.canceled)!.error).toMatchObject({ code: S.UNAVAILABLE });
    w.create(2, '/h', NODE, 1);
    const r = await w.answer(2);
    expect(r).toMatchObject({ canceled: true, compact_revision: String(applied + 1) });
    expect(r.error).toMatchObject({ code: S.OUT_OF_RANGE });
    // From the oldest retained revision the watch opens, on the same stream.
    w.create(3, '/h', NODE, applied + 1);
    expect((await w.answer(3)).created).toBe(true);
    await call(s, 'Set', { path: '/h', data: Buffer.from('z'), expected_version: -1 });
    await until(() => w.eventsOf(3).length === 1, 10_000, 'the new watch to see its event');
    expect(w.ended).toBe(false);
    w.close();
  });

  it('a watch_id already open on the stream ends the stream with INVALID_ARGUMENT', async () => {
    const w = watchMany(connect());
    w.create(1, '/');
    await w.answer(1);
    w.create(1, '/');
    await until(() => w.ended, 10_000, 'the stream to end');
    expect(w.error?.code).toBe(S.INVALID_ARGUMENT);
    expect(w.error?.details).toMatch(/watch_id 1 is already open/);
  });

  it('--max-watches-per-connection counts each watch, shared with Watch calls', async () => {
    const s = connect();
    const w = watchMany(s);
    for (let i = 0; i < MAX_WATCHES - 1; i++) w.create(i, `/lim${i}`);
    for (let i = 0; i < MAX_WATCHES - 1; i++) expect((await w.answer(i)).created).toBe(true);
    // One Watch call on the same connection takes the last slot.
    const single = (s.Watch as (r: Msg) => grpc.ClientReadableStream<Msg>).call(s, { path: '/single' });
    single.on('error', () => undefined); // CANCELLED when the test cancels it
    await new Promise<void>((resolve) => single.on('data', (r: Msg) => r.created && resolve()));
    w.create(100, '/one-too-many');
    const r = await w.answer(100);
    expect(r.error).toMatchObject({ code: S.RESOURCE_EXHAUSTED });
    expect(r.error.message).toMatch(
      /5 watches are already open on this connection \(--max-watches-per-connection\)/,
    );
    // Another connection has its own budget.
    const other = watchMany(connect());
    other.create(1, '/elsewhere');
    expect((await other.answer(1)).created).toBe(true);
    // Cancelling gives a slot back; so does ending the stream.
    w.cancel(0);
    w.create(101, '/again');
    expect((await w.answer(101)).created).toBe(true);
    w.close();
    single.cancel();
    await until(
      async () => {
        const again = watchMany(s);
        for (let i = 0; i < MAX_WATCHES; i++) again.create(i, `/lim${i}`);
        const answers = await Promise.all(Array.from({ length: MAX_WATCHES }, (_, i) => again.answer(i)));
        again.close();
        return answers.every((a) => a.created === true);
      },
      10_000,
      'the ended stream to give its slots back',
    );
    other.close();
  });

  it('with auth on: an unreadable path is refused per watch, events the watcher may not READ are never sent, those it may are', async () => {
    const pkg = grpc.loadPackageDefinition(ARBOR_PROTO) as unknown as {
      arbor: { v1: { Auth: grpc.ServiceClientConstructor } };
    };
    const auth = new pkg.arbor.v1.Auth(m.clientAddr, grpc.credentials.createInsecure()) as unknown as Stub;
    stubs.push(auth);
    const s = connect();
    const only = (id: string) => [{ scheme: 'user', id, perms: PERMS.all }];
    await callAs(auth, 'UserAdd', { name: 'root', password: 'root-pw', roles: ['admin'] });
    await callAs(auth, 'UserAdd', { name: 'alice', password: 'alice-pw' });
    await call(s, 'Create', { path: '/pub' });
    await call(s, 'Create', { path: '/secret', acl: only('root') });
    await callAs(auth, 'AuthEnable', {});
    const root = await login(auth, 'root', 'root-pw');
    const alice = await login(auth, 'alice', 'alice-pw');
    const w = watchMany(s, alice);
    w.create(1, '/pub', SUBTREE);
    w.create(2, '/secret');
    expect((await w.answer(1)).created).toBe(true);
    const denied = await w.answer(2);
    expect(denied).toMatchObject({ canceled: true, error: { code: S.PERMISSION_DENIED } });
    await callAs(s, 'Create', { path: '/pub/hidden', acl: only('root') }, root);
    await callAs(s, 'Create', { path: '/pub/open' }, root);
    // Readable by alice alone: seen only if the watch is checked as alice, not anonymously.
    await callAs(s, 'Create', { path: '/pub/alices', acl: only('alice') }, root);
    await until(() => w.eventsOf(1).length > 1, 10_000, 'the readable events');
    await callAs(s, 'Sync', { path: '/' }, root);
    expect(w.eventsOf(1).map((e) => e.path)).toEqual(['/pub/open', '/pub/alices']);
    expect(w.ended).toBe(false);
    w.close();
  });
});
