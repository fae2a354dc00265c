/**
 * The member's hand decoder of session-stream requests builds what @grpc/proto-loader builds with
 * the member's loader options (64-bit values as numbers below 2^53 instead of strings, which the
 * handlers' accessors take alike), and hands everything else to proto-loader.
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { rng, wireValues } from '../wire-values.js';
import { LOADER_OPTIONS } from '../../src/api/proto.js';
import {
  MAX_PACK,
  PACK_TOO_BIG,
  decodeClientRequest,
  withHandDecodedRequests,
} from '../../src/api/request-decode.js';
import { header, int, setCommand, u64 } from '../../src/api/convert.js';

// A definition of its own: the member's patches the deserializer under test.
const def = protoLoader.loadSync('arbor/v1/arbor.proto', LOADER_OPTIONS);
const stream = (def['arbor.v1.Arbor'] as protoLoader.ServiceDefinition)['Stream']!;
const encode = (m: object): Buffer => stream.requestSerialize(m);
const loaderDecode = (b: Buffer): unknown => stream.requestDeserialize(b);

/** 64-bit values compare as decimal strings, bytes as hex. */
function normal(v: unknown): unknown {
  if (typeof v === 'number') return String(v);
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (Array.isArray(v)) return v.map(normal);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, normal(x)]),
    );
  return v;
}

function gen(r: () => number): () => Record<string, unknown> {
  const { pick, u64, i64 } = wireValues(r);
  const maybe = <T>(p: number, f: () => T): T | undefined => (r() < p ? f() : undefined);
  const path = (): string => pick(['', '/', '/a/b', '/ünï/çødé/✓', `/k${Math.floor(r() * 1e6)}`]);
  const data = (): Buffer =>
    Buffer.from(Array.from({ length: pick([0, 1, 256, 3000]) }, () => Math.floor(r() * 256)));
  const hdr = (): Record<string, unknown> | undefined =>
    maybe(0.7, () => ({
      client_id: pick(['', 'c-1f3a', 'klïent']),
      sequence: u64(),
      first_unacked: u64(),
    }));
  const ops: Record<string, () => Record<string, unknown>> = {
    create: () => ({
      path: path(),
      data: data(),
      mode: pick([0, 1, 2, 3, 4, 5, 9]),
      session_id: u64(),
      ttl_ms: i64(),
      create_parents: r() < 0.5,
      acl: r() < 0.2 ? [{ scheme: 'world', id: 'anyone', perms: 31 }] : [],
      header: hdr(),
    }),
    get: () => ({ path: path(), consistency: pick([0, 1, 7]) }),
    set: () => ({ path: path(), data: data(), expected_version: i64(), header: hdr() }),
    delete: () => ({ path: path(), expected_version: i64(), recursive: r() < 0.5, header: hdr() }),
    exists: () => ({ path: path(), consistency: pick([0, 1]) }),
    get_children: () => ({ path: path(), consistency: 0 }),
    multi: () => ({ ops: [{ delete: { path: path(), expected_version: '-1' } }], header: hdr() }),
    sync: () => ({ path: path() }),
    keep_alive: () => ({ session_id: u64() }),
  };
  const one = (): Record<string, unknown> => {
    const op = pick(Object.keys(ops));
    return { id: u64(), [op]: ops[op]!() };
  };
  // Sometimes several requests packed in one (ClientRequest.batch).
  return () => (r() < 0.15 ? { batch: Array.from({ length: 1 + Math.floor(r() * 4) }, one) } : one());
}

describe('hand-decoded session-stream requests', () => {
  it('equal proto-loader objects for 2000 random requests of every kind', () => {
    const r = rng(7);
    const next = gen(r);
    const taken = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const b = encode(next());
      const hand = decodeClientRequest(b);
      const loader = loaderDecode(b) as Record<string, unknown>;
      if (hand === undefined) continue;
      expect(normal(hand), JSON.stringify(normal(loader))).toEqual(normal(loader));
      const kind = (hand.op as string | undefined) ?? 'batch';
      taken.set(kind, (taken.get(kind) ?? 0) + 1);
    }
    // Every kind it claims is decoded by hand somewhere in the sample; the rest never are.
    for (const op of ['create', 'get', 'set', 'delete', 'exists', 'sync', 'keep_alive', 'batch'])
      expect(taken.get(op) ?? 0, op).toBeGreaterThan(20);
    expect(taken.get('multi')).toBeUndefined();
    expect(taken.get('get_children')).toBeUndefined();
  });

  it('decodes a plain write by hand, into values the handlers read unchanged', () => {
    const b = encode({
      id: '42',
      set: {
        path: '/app/config',
        data: Buffer.from('v1'),
        expected_version: '-1',
        header: { client_id: 'c1', sequence: '7', first_unacked: '5' },
      },
    });
    const m = decodeClientRequest(b);
    expect(m).toBeDefined();
    expect(m!.op).toBe('set');
    expect(m!.id).toBe(42);
    expect(setCommand(m!.set)).toEqual({
      type: 'set',
      path: '/app/config',
      data: Buffer.from('v1'),
      expectedVersion: -1,
    });
    expect(header(m!.set)).toEqual({ clientId: 'c1', seq: 7, firstUnacked: 5 });
  });

  it('keeps 64-bit values beyond 2^53 exact, and out of range where the handlers refuse them', () => {
    const m = decodeClientRequest(
      encode({ id: '18446744073709551615', keep_alive: { session_id: '9007199254740993' } }),
    )!;
    expect(m.id).toBe('18446744073709551615');
    expect(u64(m.keep_alive, 'session_id')).toBe(9007199254740993n);
    const big = decodeClientRequest(
      encode({ id: '1', set: { path: '/a', expected_version: '9007199254740992' } }),
    )!;
    expect(() => int(big.set, 'expected_version')).toThrow(/out of range/);
    const neg = decodeClientRequest(
      encode({ id: '1', set: { path: '/a', expected_version: '-9007199254740991' } }),
    )!;
    expect(int(neg.set, 'expected_version')).toBe(-9007199254740991);
  });

  it('hands unknown fields, non-ASCII text and two operations to proto-loader', () => {
    const plain = encode({ id: '1', get: { path: '/a' } });
    expect(decodeClientRequest(plain)).toBeDefined();
    // Field 99, varint 1, appended: proto-loader skips it.
    const unknown = Buffer.concat([plain, Buffer.from([0x98, 0x06, 0x01])]);
    expect(decodeClientRequest(unknown)).toBeUndefined();
    const decode = withHandDecodedRequests(loaderDecode);
    expect(normal(decode(unknown))).toEqual(normal(loaderDecode(plain)));
    expect(decodeClientRequest(encode({ id: '1', get: { path: '/ü' } }))).toBeUndefined();
    const two = Buffer.concat([plain, encode({ set: { path: '/b' } })]);
    expect(decodeClientRequest(two)).toBeUndefined();
    expect(normal(decode(two))).toEqual(normal(loaderDecode(two)));
  });

  it('never throws on damaged bytes, and what it decodes proto-loader decodes alike', () => {
    const r = rng(11);
    const next = gen(r);
    let agreed = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(encode(next()));
      const cut = r() < 0.5 ? b.subarray(0, Math.floor(r() * b.length)) : b;
      for (let k = 0; k < 3; k++)
        if (cut.length > 0) cut[Math.floor(r() * cut.length)] = Math.floor(r() * 256);
      const hand = decodeClientRequest(cut);
      if (hand === undefined) continue;
      expect(normal(hand)).toEqual(normal(loaderDecode(cut)));
      agreed++;
    }
    expect(agreed).toBeGreaterThan(50);
  });

  it('refuses a pack of more than MAX_PACK requests without decoding them', () => {
    let decoded = 0;
    const decode = withHandDecodedRequests((b) => {
      decoded++;
      return loaderDecode(b);
    });
    // Entries it decodes by hand, and empty entries that only proto-loader would take.
    const syncs = encode({ batch: Array.from({ length: MAX_PACK + 1 }, () => ({ sync: { path: '/' } })) });
    const empties = Buffer.concat(
      Array.from({ length: 2 * MAX_PACK }, () => Buffer.from([(11 << 3) | 2, 0])),
    );
    expect(decode(syncs)).toBe(PACK_TOO_BIG);
    expect(decode(empties)).toBe(PACK_TOO_BIG);
    expect(decoded).toBe(0);
    // MAX_PACK itself is fine either way.
    const most = encode({ batch: Array.from({ length: MAX_PACK }, () => ({ sync: { path: '/' } })) });
    expect((decode(most) as { batch: unknown[] }).batch).toHaveLength(MAX_PACK);
    const emptyMost = Buffer.concat(Array.from({ length: MAX_PACK }, () => Buffer.from([(11 << 3) | 2, 0])));
    expect((decode(emptyMost) as { batch: unknown[] }).batch).toHaveLength(MAX_PACK);
    expect(decoded).toBe(1);
  });
});
