/**
 * Hostile traffic on the peer port of a running member (proto/arbor/v1/raft.proto): well-formed
 * MessageBatch, SnapshotChunk, Forward and ForwardStream frames with hostile values (fast-check),
 * and random bytes in place of frames. Afterwards every member is alive, the members agree, and
 * the tree is exactly what it was.
 *
 * What "hostile" may contain depends on the port's protection, as in docs/security.md:
 *  - plaintext: whoever reaches the port is trusted, so a correctly addressed frame carrying a
 *    perfectly forged Raft message could rewrite the log — that is the threat TLS removes, not a
 *    bug. Correctly addressed frames therefore carry only payloads the member's own decoders
 *    refuse (checked here with those decoders); misaddressed frames (another cluster id, another
 *    destination) carry anything, including forged Raft messages, snapshots and admin operations;
 *  - mutual TLS, sender holding a certificate from another CA: everything, including forged
 *    messages from the leader with a huge term and commit index, a forged snapshot and a forged
 *    "remove member" — none of it may get in.
 *
 * ARBOR_FUZZ_RUNS (default 40) and ARBOR_FUZZ_SEED set the size and seed; CI runs the default
 * (a few seconds per cluster), e.g. ARBOR_FUZZ_RUNS=2000 for a longer run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/raft/codec.js';
import type { Message } from '../../src/raft/messages.js';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { decodeAdminOp, decodeWriteBatch, encodeAdminOp } from '../../src/server/forward-codec.js';
import { decodeEnvelope } from '../../src/tree/command-codec.js';
import { makeCerts } from '../../src/security/certs.js';
import { peerProto } from '../../src/transport/peer-proto.js';
import { ByteReader, ByteWriter } from '../../src/util/bytes.js';
import type { LogIndex, NodeId, Term } from '../../src/util/brand.js';
import { TestCluster, call, converged, type Msg } from '../integration/harness.js';

const SEED = Number(process.env.ARBOR_FUZZ_SEED ?? process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const RUNS = Number(process.env.ARBOR_FUZZ_RUNS ?? process.env.FUZZ_RUNS ?? 40);
const CLUSTER_ID = 'arbor';
const MAX_U53 = Number.MAX_SAFE_INTEGER;

// ------------------------------------------------------------------ arbitraries

const hostileId = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 99, 2 ** 32, MAX_U53), fc.nat());
const hostileNum = fc.oneof(fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1, MAX_U53), fc.nat({ max: 1000 }));
const hostileString = fc.oneof(
  fc.constantFrom('', CLUSTER_ID, 'arbor ', 'ARBOR', 'arbor\u0000', 'x'.repeat(10_000)),
  fc.string({ maxLength: 20 }),
);
const bytes = fc.uint8Array({ maxLength: 96 });

const entry: fc.Arbitrary<Entry> = fc.record({
  term: hostileNum.map((n) => n as Term),
  index: hostileNum.map((n) => n as LogIndex),
  type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange),
  data: bytes,
});
const conf = fc.record({
  voters: fc.array(
    hostileId.map((n) => n as NodeId),
    { maxLength: 4 },
  ),
  learners: fc.array(
    hostileId.map((n) => n as NodeId),
    { maxLength: 2 },
  ),
});

/** Well-formed Raft messages with hostile values, `from` and `to` as given. */
function raftMessage(from: fc.Arbitrary<number>, to: fc.Arbitrary<number>): fc.Arbitrary<Message> {
  const env = { from: from.map((n) => n as NodeId), to: to.map((n) => n as NodeId), term: hostileNum };
  const idx = hostileNum.map((n) => n as LogIndex);
  const term = hostileNum.map((n) => n as Term);
  return fc.oneof(
    fc.record({
      ...env,
      type: fc.constant('app' as const),
      index: idx,
      logTerm: term,
      commit: idx,
      entries: fc.array(entry, { maxLength: 3 }),
    }),
    fc.record({
      ...env,
      type: fc.constant('appResp' as const),
      index: idx,
      reject: fc.boolean(),
      rejectHint: idx,
      logTerm: term,
    }),
    fc.record({
      ...env,
      type: fc.constantFrom('vote' as const, 'preVote' as const),
      index: idx,
      logTerm: term,
      transfer: fc.boolean(),
    }),
    fc.record({
      ...env,
      type: fc.constantFrom('voteResp' as const, 'preVoteResp' as const),
      reject: fc.boolean(),
    }),
    fc.record({ ...env, type: fc.constant('heartbeat' as const), commit: idx, readSeq: hostileNum }),
    fc.record({ ...env, type: fc.constant('heartbeatResp' as const), readSeq: hostileNum }),
    fc.record({
      ...env,
      type: fc.constant('snap' as const),
      snapshot: fc.record({ meta: fc.record({ index: idx, term, conf }), data: bytes }),
    }),
    fc.record({ ...env, type: fc.constant('readIndex' as const), ctx: bytes }),
    fc.record({ ...env, type: fc.constant('readIndexResp' as const), index: idx, ctx: bytes }),
    fc.record({ ...env, type: fc.constant('timeoutNow' as const) }),
  ) as fc.Arbitrary<Message>;
}

const decodes = (f: (b: Uint8Array) => unknown, b: Uint8Array): boolean => {
  try {
    f(b);
    return true;
  } catch {
    return false;
  }
};

/** Bytes the member's Raft decoder refuses: random ones, forged ones cut short or with a tail. */
const undecodableMessage = fc
  .oneof(
    bytes,
    raftMessage(hostileId, hostileId).chain((m) => {
      const b = encodeMessage(m);
      return fc.oneof(
        fc.nat({ max: Math.max(0, b.length - 1) }).map((n) => b.subarray(0, n)),
        bytes.map((t) => Uint8Array.from([...b, 0, ...t])),
      );
    }),
  )
  .filter((b) => !decodes(decodeMessage, b));

/** A snapshot frame's header: the encoded snapshot message and the member's extra bytes. */
const snapshotHeader = (m: fc.Arbitrary<Message>): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(m, bytes)
    .map(([msg, extra]) => new ByteWriter(64).bytes(encodeMessage(msg)).bytes(extra).finish());

/** The snapshot message in a header, parsed as the member parses it (throws if it would not). */
function snapshotMessage(header: Uint8Array): Message {
  const r = new ByteReader(header);
  const m = decodeMessage(r.bytes());
  r.bytes();
  r.end();
  return m;
}

const adminOp = fc.oneof(
  fc.record({ type: fc.constant('removeMember' as const), id: hostileId }),
  fc.record({ type: fc.constant('promoteMember' as const), id: hostileId }),
  fc.record({ type: fc.constant('transferLeader' as const), target: hostileId }),
  fc.record({
    type: fc.constant('addMember' as const),
    id: hostileId,
    name: hostileString,
    peerUrl: hostileString,
    clientUrl: hostileString,
    asLearner: fc.boolean(),
  }),
);

/** A forward payload no decoder of `kind` turns into an operation (a write, an admin op). */
function harmlessPayload(kind: string, b: Uint8Array): boolean {
  if (kind === 'admin') return !decodes(decodeAdminOp, b);
  if (kind === 'write') {
    try {
      return decodeWriteBatch(b).every((e) => !decodes(decodeEnvelope, e));
    } catch {
      return true;
    }
  }
  return true; // 'touch' only refreshes sessions; unknown kinds are refused
}

type Frame =
  | { readonly rpc: 'Messages'; readonly batches: Msg[] }
  | { readonly rpc: 'InstallSnapshot'; readonly chunks: Msg[] }
  | { readonly rpc: 'Forward'; readonly request: Msg }
  | { readonly rpc: 'ForwardStream'; readonly requests: Msg[] }
  | { readonly rpc: 'raw'; readonly method: string; readonly bytes: Uint8Array };

const METHODS = ['Messages', 'InstallSnapshot', 'Forward', 'ForwardStream'];
const kind = fc.oneof(fc.constantFrom('write', 'touch', 'admin'), hostileString);

/**
 * Frames for member `self`. With `trusted` (plaintext), correctly addressed frames carry only
 * refused payloads; otherwise (a stranger under mTLS) anything goes.
 */
function frames(self: number, trusted: boolean): fc.Arbitrary<Frame> {
  const addressed = (clusterId: string, to: number): boolean => clusterId === CLUSTER_ID && to === self;
  const forged = raftMessage(fc.constantFrom(1, 2, 3), fc.constant(self));
  const batch = fc
    .record({ clusterId: hostileString, from: hostileId, to: fc.oneof(fc.constant(self), hostileId) })
    .chain((h) => {
      const inner =
        trusted && addressed(h.clusterId, h.to)
          ? undecodableMessage
          : fc.oneof(forged.map(encodeMessage), undecodableMessage);
      return fc.array(inner, { maxLength: 4 }).map((messages) => ({ ...h, messages }));
    });
  const snapshot = fc
    .record({
      clusterId: hostileString,
      from: hostileId,
      to: fc.oneof(fc.constant(self), hostileId),
      last: fc.boolean(),
    })
    .chain((h) => {
      const header =
        trusted && addressed(h.clusterId, h.to)
          ? bytes.filter((b) => !decodes(snapshotMessage, b))
          : fc.oneof(snapshotHeader(forged.filter((m) => m.type === 'snap')), bytes);
      return fc.record({ header, data: bytes, more: fc.array(bytes, { maxLength: 3 }) }).map((x) => ({
        ...h,
        header: x.header,
        data: x.data,
        more: x.more,
      }));
    })
    .map((h) => ({
      rpc: 'InstallSnapshot' as const,
      chunks: [
        { clusterId: h.clusterId, from: h.from, to: h.to, header: h.header, data: h.data, last: h.last },
        ...h.more.map((data, i) => ({ data, last: i === h.more.length - 1 })),
      ],
    }));
  const forwardRequest = fc
    .record({ clusterId: fc.oneof(fc.constant(CLUSTER_ID), hostileString), from: hostileId, kind })
    .chain((h) => {
      const anything = fc.oneof(bytes, adminOp.map(encodeAdminOp));
      const payload =
        trusted && h.clusterId === CLUSTER_ID ? anything.filter((b) => harmlessPayload(h.kind, b)) : anything;
      return payload.map((p) => ({ ...h, payload: p }));
    });
  return fc.oneof(
    fc.array(batch, { minLength: 1, maxLength: 4 }).map((batches) => ({ rpc: 'Messages' as const, batches })),
    snapshot,
    forwardRequest.map((request) => ({ rpc: 'Forward' as const, request })),
    fc
      .array(
        fc.record({
          id: hostileNum,
          request: fc.option(forwardRequest, { nil: null }),
          deadlineMs: fc.constantFrom(0, 1, 500, 2 ** 32 - 1),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((requests) => ({ rpc: 'ForwardStream' as const, requests })),
    fc
      .record({ method: fc.constantFrom(...METHODS), bytes: fc.uint8Array({ maxLength: 256 }) })
      .map((r) => ({ rpc: 'raw' as const, ...r })),
  );
}

// ------------------------------------------------------------------ sending

const proto = peerProto();
const identity = (b: Buffer): Buffer => b;

/** Sends one frame; resolves the final gRPC status code (never rejects, never hangs). */
function send(client: grpc.Client, f: Frame, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  return new Promise<number>((resolve) => {
    const done = (e: grpc.ServiceError | null): void => resolve(e ? e.code : grpc.status.OK);
    switch (f.rpc) {
      case 'Messages':
      case 'InstallSnapshot': {
        const def = f.rpc === 'Messages' ? proto.messages : proto.installSnapshot;
        const s = client.makeClientStreamRequest(
          def.path,
          def.requestSerialize as (m: Msg) => Buffer,
          def.responseDeserialize,
          { deadline },
          done,
        );
        s.on('error', () => undefined);
        for (const m of f.rpc === 'Messages' ? f.batches : f.chunks) s.write(m);
        s.end();
        return;
      }
      case 'Forward':
        client.makeUnaryRequest(
          proto.forward.path,
          proto.forward.requestSerialize as (m: Msg) => Buffer,
          proto.forward.responseDeserialize,
          f.request,
          { deadline },
          done,
        );
        return;
      case 'ForwardStream': {
        const def = proto.forwardStream;
        const s = client.makeBidiStreamRequest(
          def.path,
          def.requestSerialize as (m: Msg) => Buffer,
          def.responseDeserialize,
          { deadline },
        );
        s.on('data', () => undefined);
        s.on('error', (e: grpc.ServiceError) => resolve(e.code));
        s.on('status', (st: grpc.StatusObject) => resolve(st.code));
        for (const r of f.requests) s.write(r);
        s.end();
        return;
      }
      case 'raw':
        client.makeUnaryRequest(
          `/arbor.peer.v1.Peer/${f.method}`,
          identity,
          identity,
          Buffer.from(f.bytes),
          { deadline },
          done,
        );
        return;
    }
  });
}

/** What must not change: the tree (digest), the members and the members' liveness. */
async function fingerprint(c: TestCluster): Promise<{ digest: string; members: string }> {
  const sts = await converged(c, [1, 2, 3]);
  const members = (st: Msg): string =>
    (st.members as Msg[])
      .map((m) => `${m.id}=${m.peer_url}`)
      .sort()
      .join(',');
  expect(new Set(sts.map(members)).size).toBe(1);
  return { digest: sts[0]!.digest as string, members: members(sts[0]!) };
}

async function seed(c: TestCluster): Promise<void> {
  const leader = await c.waitForLeader();
  await call(c.arbor(leader), 'Create', { path: '/peer-fuzz', data: Buffer.from('root') });
  for (let i = 0; i < 5; i++) {
    await call(c.arbor(leader), 'Create', { path: `/peer-fuzz/n${i}`, data: Buffer.from(`v${i}`) });
  }
}

async function fuzz(
  c: TestCluster,
  creds: grpc.ChannelCredentials,
  trusted: boolean,
): Promise<Map<number, number>> {
  const before = await fingerprint(c);
  const codes = new Map<number, number>();
  const clients = c.members.map((m) => new grpc.Client(m.peerAddr, creds));
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(2).chain((i) => frames(i + 1, trusted).map((f) => [i, f] as const)),
        async ([i, f]) => {
          const code = await send(clients[i]!, f);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          // A frame that parses is answered by Arbor, and hostile input is never an internal
          // error; bytes that do not parse as the frame are refused by grpc-js itself (INTERNAL).
          if (f.rpc !== 'raw') expect(code).not.toBe(grpc.status.INTERNAL);
          // Every frame is answered: a status, never a hang.
          expect(code).not.toBe(grpc.status.DEADLINE_EXCEEDED);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  } finally {
    for (const cl of clients) cl.close();
  }
  for (const m of c.members) expect(m.proc?.exitCode ?? null, c.logs()).toBeNull();
  const after = await fingerprint(c);
  expect(after).toEqual(before);
  // The cluster still works: a write commits and every member applies it.
  await call(c.arbor(await c.waitForLeader()), 'Create', { path: '/peer-fuzz/after' });
  await converged(c, [1, 2, 3]);
  return codes;
}

// ------------------------------------------------------------------ the properties

const clusters: TestCluster[] = [];
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-peer-fuzz-'));
  for (const [out, members] of [
    ['cluster', ['member']],
    ['rogue', ['stranger']],
  ] as const) {
    makeCerts({
      out: path.join(dir, out),
      members: [...members],
      hosts: ['127.0.0.1', 'localhost'],
      clients: [],
      days: 2,
    });
  }
  console.log(`peer fuzz: ARBOR_FUZZ_SEED=${SEED} ARBOR_FUZZ_RUNS=${RUNS}`);
});

afterAll(async () => {
  for (const c of clusters) await c.stop();
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('the peer protocol under hostile input', () => {
  it('plaintext: misaddressed frames and payloads the decoders refuse change nothing', async () => {
    const c = await TestCluster.start({ size: 3 });
    clusters.push(c);
    await seed(c);
    const codes = await fuzz(c, grpc.credentials.createInsecure(), true);
    console.log('peer fuzz (plaintext) status counts', Object.fromEntries(codes));
    // Hostile frames are mostly refused, but some must get as far as the member's decoders.
    expect(codes.get(grpc.status.OK) ?? 0).toBeGreaterThan(0);
    expect([...codes.keys()].some((k) => k !== (grpc.status.OK as number))).toBe(true);
  }, 180_000);

  it('mutual TLS: a certificate from another CA gets nothing in, not even perfect forgeries', async () => {
    const f = (d: string, n: string): string => path.join(dir, d, n);
    const c = await TestCluster.start({
      size: 3,
      extraArgs: [
        ...['--peer-tls-cert', f('cluster', 'member.crt'), '--peer-tls-key', f('cluster', 'member.key')],
        ...['--peer-tls-ca', f('cluster', 'ca.crt')],
      ],
    });
    clusters.push(c);
    await seed(c);
    const stranger = grpc.credentials.createSsl(
      fs.readFileSync(f('cluster', 'ca.crt')),
      fs.readFileSync(f('rogue', 'stranger.key')),
      fs.readFileSync(f('rogue', 'stranger.crt')),
    );
    const codes = await fuzz(c, stranger, false);
    console.log('peer fuzz (mTLS stranger) status counts', Object.fromEntries(codes));
    expect([...codes.keys()]).toEqual([grpc.status.UNAVAILABLE]);
  }, 180_000);
});
