/**
 * Hostile input against the public API of a real cluster: well-formed requests with hostile
 * values (fast-check) and raw random bytes in place of protobuf messages. Every call must end with
 * a well-formed status that is not an internal error, no member may crash, and the members must
 * still agree on the tree afterwards.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, call, converged, rawStatus, type GrpcError, type Msg } from '../integration/harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
  console.log(`api fuzz: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Codes an API call may legitimately end with on hostile input. */
const EXPECTED = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
]);

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '/',
    '//',
    '/.',
    '/..',
    '/a/./b',
    '/a\u0000b',
    '/\ud800',
    '/a/',
    'a',
    '/' + 'x'.repeat(5000),
    '/' + 'a/'.repeat(300) + 'z',
  ),
  fc
    .array(fc.constantFrom('a', 'b', 'é', '\u202e', ' ', '\n', '😀'), { maxLength: 5 })
    .map((xs) => '/' + xs.join('/')),
);
const hostileInt64 = fc.oneof(
  fc.integer(),
  fc.constantFrom(
    '-1',
    '0',
    '9007199254740993',
    '18446744073709551615',
    '-9223372036854775808',
    '9223372036854775807',
  ),
);
const hostileBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(1024 * 1024 + 1)));
const hostileEnum = fc.oneof(fc.integer({ min: -3, max: 9 }), fc.constant(2 ** 31 - 1));
const header = fc.option(
  fc.record({
    client_id: fc.string({ maxLength: 300 }),
    sequence: hostileInt64,
    first_unacked: hostileInt64,
  }),
  { nil: undefined },
);

const createReq = fc.record({
  path: hostileString,
  data: hostileBytes,
  mode: hostileEnum,
  session_id: hostileInt64,
  ttl_ms: hostileInt64,
  create_parents: fc.boolean(),
  header,
});
const requests: fc.Arbitrary<[string, Msg]> = fc.oneof(
  createReq.map((r) => ['Create', r] as [string, Msg]),
  fc.record({ path: hostileString, consistency: hostileEnum }).map((r) => ['Get', r] as [string, Msg]),
  fc
    .record({ path: hostileString, consistency: hostileEnum })
    .map((r) => ['GetChildren', r] as [string, Msg]),
  fc.record({ path: hostileString, consistency: hostileEnum }).map((r) => ['Exists', r] as [string, Msg]),
  fc
    .record({ path: hostileString, data: hostileBytes, expected_version: hostileInt64, header })
    .map((r) => ['Set', r] as [string, Msg]),
  fc
    .record({ path: hostileString, expected_version: hostileInt64, recursive: fc.boolean(), header })
    .map((r) => ['Delete', r] as [string, Msg]),
  fc
    .array(
      fc.oneof(
        createReq.map((c) => ({ create: c })),
        fc.record({ path: hostileString, expected_version: hostileInt64 }).map((c) => ({ check: c })),
        fc.record({ path: hostileString, expected_version: hostileInt64 }).map((d) => ({ delete: d })),
        fc.constant({}),
      ),
      { maxLength: 6 },
    )
    .map((ops) => ['Multi', { ops }] as [string, Msg]),
  fc.record({ path: hostileString }).map((r) => ['Sync', r] as [string, Msg]),
  fc.record({ timeout_ms: hostileInt64, header }).map((r) => ['OpenSession', r] as [string, Msg]),
  fc.record({ session_id: hostileInt64, header }).map((r) => ['CloseSession', r] as [string, Msg]),
);

async function outcome(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return grpc.status.OK;
  } catch (e) {
    const g = e as GrpcError;
    if (typeof g.code !== 'number') throw e;
    if (!EXPECTED.has(g.code)) throw new Error(`unexpected status ${g.code}: ${g.details}`, { cause: e });
    expect(g.details.length).toBeGreaterThan(0);
    return g.code;
  }
}

describe('the public API under hostile input', () => {
  it('answers well-formed requests with hostile values with a clear, non-internal status', async () => {
    const stubs = [1, 2, 3].map((i) => cluster.arbor(i));
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests, fc.nat(2), async ([method, req], m) => {
        const code = await outcome(call(stubs[m]!, method, req, 10_000));
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    console.log('api fuzz status counts', Object.fromEntries(codes));
    // Hostile input is mostly refused, but the fuzzer must also reach the happy paths.
    expect(codes.get(grpc.status.INVALID_ARGUMENT) ?? 0).toBeGreaterThan(0);
    expect(codes.get(grpc.status.OK) ?? 0).toBeGreaterThan(0);
    const sts = await converged(cluster, [1, 2, 3]);
    expect(sts).toHaveLength(3);
  }, 180_000);

  it('answers every hostile request on the session stream by id', async () => {
    const F = cluster.arbor(2);
    const st = (F.Stream as () => grpc.ClientDuplexStream<Msg, Msg>).call(F);
    const answers = new Map<string, Msg>();
    st.on('data', (r: Msg) => answers.set(String(r.id), r));
    st.on('error', () => undefined);
    const reqs = fc.sample(
      fc.oneof(
        requests.map(([method, req]) => {
          const key = {
            Create: 'create',
            Get: 'get',
            Set: 'set',
            Delete: 'delete',
            Exists: 'exists',
            GetChildren: 'get_children',
            Multi: 'multi',
            Sync: 'sync',
          }[method];
          return key ? { [key]: req } : {};
        }),
        fc.constant({}),
      ),
      { seed: SEED, numRuns: RUNS },
    );
    reqs.forEach((r, i) => st.write({ id: i + 1, ...r }));
    const deadline = Date.now() + 60_000;
    while (answers.size < reqs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    st.end();
    expect(answers.size).toBe(reqs.length);
    for (const a of answers.values()) {
      if (a.error) {
        expect(EXPECTED.has(a.error.code as number), `code ${a.error.code}: ${a.error.message}`).toBe(true);
        expect((a.error.message as string).length).toBeGreaterThan(0);
      }
    }
  }, 120_000);

  it('survives random bytes in place of protobuf messages on every method', async () => {
    const methods = [
      'Create',
      'Get',
      'Set',
      'Delete',
      'Exists',
      'GetChildren',
      'Multi',
      'Sync',
      'OpenSession',
      'CloseSession',
    ];
    const addr = cluster.member(1).clientAddr;
    const send = (method: string, bytes: Uint8Array): Promise<number> =>
      rawStatus(addr, grpc.credentials.createInsecure(), `/arbor.v1.Arbor/${method}`, bytes, 10_000);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.uint8Array({ maxLength: 256 }),
        async (method, bytes) => {
          const code = await send(method, bytes);
          // A message that does not parse is refused by gRPC itself; one that happens to parse is
          // a (hostile) request like any other. Either way: a status, never a hang or a crash.
          expect(code).toBeGreaterThanOrEqual(0);
          expect(code).not.toBe(grpc.status.DEADLINE_EXCEEDED);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    for (const m of cluster.members) expect(m.proc?.exitCode ?? null).toBeNull();
    await call(cluster.arbor(2), 'Create', { path: '/after-fuzz' });
    await converged(cluster, [1, 2, 3]);
  }, 180_000);
});
