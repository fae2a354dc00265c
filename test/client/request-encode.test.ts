/**
 * The client's hand encoder of session-stream requests writes bytes that proto-loader reads back
 * as exactly what its own serializer's bytes give, for every request shape the client sends
 * (wire.ts objects: camelCase, 64-bit values as decimal strings, enums by name), packs included;
 * other shapes are left to proto-loader.
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { LOADER_OPTIONS, PROTO_DIR, PROTO_FILE } from '../../src/client/proto.js';
import { encodeClientRequest } from '../../src/client/request-encode.js';
import { rng, wireValues } from '../wire-values.js';

// A definition of its own: the client's patches the serializer under test.
const def = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
const stream = (def['arbor.v1.Arbor'] as protoLoader.ServiceDefinition)['Stream']!;
const viaLoader = (m: object): unknown => stream.requestDeserialize(stream.requestSerialize(m));

function gen(r: () => number): () => Record<string, unknown> {
  const { pick, u64, i64 } = wireValues(r);
  const path = (): string => pick(['', '/', '/a/b', '/ünï/çødé/✓', `/k${Math.floor(r() * 1e6)}`]);
  const data = (): Buffer =>
    Buffer.from(Array.from({ length: pick([0, 1, 256, 3000]) }, () => Math.floor(r() * 256)));
  const header = (): Record<string, unknown> | undefined =>
    r() < 0.7
      ? { clientId: pick(['', 'c-1f3a', 'klïent']), sequence: u64(), firstUnacked: u64() }
      : undefined;
  const consistency = (): string => pick(['LINEARIZABLE', 'SERIALIZABLE']);
  const ops: Record<string, () => Record<string, unknown>> = {
    create: () => ({
      path: path(),
      data: data(),
      mode: pick([
        'PERSISTENT',
        'EPHEMERAL',
        'PERSISTENT_SEQUENTIAL',
        'EPHEMERAL_SEQUENTIAL',
        'CONTAINER',
        'PERSISTENT_WITH_TTL',
      ]),
      sessionId: u64(),
      ttlMs: i64(),
      createParents: r() < 0.5,
      ...(r() < 0.5 ? { acl: [] } : {}),
      header: header(),
    }),
    get: () => ({ path: path(), consistency: consistency() }),
    set: () => ({ path: path(), data: data(), expectedVersion: i64(), header: header() }),
    delete: () => ({ path: path(), expectedVersion: i64(), recursive: r() < 0.5, header: header() }),
    exists: () => ({ path: path(), consistency: consistency() }),
    sync: () => ({ path: path() }),
    keepAlive: () => ({ sessionId: u64() }),
  };
  const one = (): Record<string, unknown> => {
    const op = pick(Object.keys(ops));
    return { id: u64(), [op]: ops[op]!() };
  };
  return () => (r() < 0.2 ? { batch: Array.from({ length: 1 + Math.floor(r() * 5) }, one) } : one());
}

describe('hand-encoded session-stream requests', () => {
  it('read back as proto-loader reads its own encoding, for 2000 random requests and packs', () => {
    const next = gen(rng(5));
    for (let i = 0; i < 2000; i++) {
      const m = next();
      const b = encodeClientRequest(m);
      expect(b, JSON.stringify(m)).toBeDefined();
      expect(stream.requestDeserialize(b!)).toEqual(viaLoader(m));
    }
  });

  it('leaves ACLs, multi, other operations and unknown enum names to proto-loader', () => {
    const acl = [{ scheme: 'world', id: 'anyone', perms: 31 }];
    expect(encodeClientRequest({ id: '1', create: { path: '/a', acl } })).toBeUndefined();
    expect(encodeClientRequest({ id: '1', multi: { ops: [] } })).toBeUndefined();
    expect(encodeClientRequest({ id: '1', getChildren: { path: '/' } })).toBeUndefined();
    expect(encodeClientRequest({ id: '1', get: { path: '/', consistency: 'SOMETIMES' } })).toBeUndefined();
    expect(encodeClientRequest({ id: '1', set: { path: '/', data: Buffer.alloc(100_000) } })).toBeUndefined();
    const ok = { id: '2', set: { path: '/b', data: Buffer.from('x'), expectedVersion: '-1' } };
    expect(stream.requestDeserialize(encodeClientRequest(ok)!)).toEqual(viaLoader(ok));
  });
});
