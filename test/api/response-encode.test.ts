/**
 * The member's hand encoder of session-stream answers writes bytes that proto-loader reads back
 * as exactly what its own serializer's bytes give, for every shape the handlers answer with
 * (convert.ts: 64-bit values as numbers or decimal strings), packs included; other shapes are
 * left to proto-loader.
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { LOADER_OPTIONS } from '../../src/api/proto.js';
import { encodeClientResponse } from '../../src/api/response-encode.js';
import { rng, wireValues } from '../wire-values.js';

// A definition of its own: the member's passes pre-encoded answers through.
const def = protoLoader.loadSync('arbor/v1/arbor.proto', LOADER_OPTIONS);
const stream = (def['arbor.v1.Arbor'] as protoLoader.ServiceDefinition)['Stream']!;
const viaLoader = (m: object): unknown => stream.responseDeserialize(stream.responseSerialize(m));

function gen(r: () => number): () => Record<string, unknown> {
  const { pick, u64, i64 } = wireValues(r);
  // The handlers give numbers below 2^53 and decimal strings above.
  const num = (s: string): number | string => (Number.isSafeInteger(Number(s)) && r() < 0.8 ? Number(s) : s);
  const stat = (): Record<string, unknown> => ({
    created_revision: num(u64()),
    modified_revision: num(u64()),
    children_revision: num(u64()),
    version: num(i64()),
    children_version: num(i64()),
    created_ms: num(i64()),
    modified_ms: num(i64()),
    ephemeral_owner: u64(),
    data_length: Math.floor(r() * 2 ** 32),
    num_children: pick([0, 1, 4294967295]),
    acl_version: num(i64()),
  });
  const data = (): Buffer =>
    Buffer.from(Array.from({ length: pick([0, 1, 256, 3000]) }, () => Math.floor(r() * 256)));
  const results: Record<string, () => Record<string, unknown>> = {
    error: () => ({
      code: pick([0, 3, 5, 9, 16]),
      message: pick(['', 'node /a does not exist', 'ünïcödé ✓']),
      failed_op: pick([-1, 0, 7]),
    }),
    create: () => ({ path: pick(['/a', '/ü/ß', `/s${Math.floor(r() * 1e9)}`]), stat: stat() }),
    get: () => ({ data: data(), stat: stat(), revision: num(u64()) }),
    set: () => ({ stat: stat() }),
    delete: () => ({}),
    exists: () =>
      r() < 0.5
        ? { exists: true, stat: stat(), revision: num(u64()) }
        : { exists: false, revision: num(u64()) },
  };
  const one = (): Record<string, unknown> => {
    const k = pick(Object.keys(results));
    return { id: num(u64()), [k]: results[k]!() };
  };
  return () => (r() < 0.2 ? { batch: Array.from({ length: 1 + Math.floor(r() * 5) }, one) } : one());
}

describe('hand-encoded session-stream answers', () => {
  it('read back as proto-loader reads its own encoding, for 2000 random answers and packs', () => {
    const next = gen(rng(3));
    for (let i = 0; i < 2000; i++) {
      const m = next();
      const b = encodeClientResponse(m);
      expect(b, JSON.stringify(m)).toBeDefined();
      expect(stream.responseDeserialize(b!)).toEqual(viaLoader(m));
    }
  });

  it('writes nested lengths of any size', () => {
    const big = {
      id: 1,
      batch: Array.from({ length: 40 }, (_, i) => ({
        id: i,
        get: { data: Buffer.alloc(1000, i), revision: i },
      })),
    };
    expect(stream.responseDeserialize(encodeClientResponse(big)!)).toEqual(viaLoader(big));
    const one = { id: 2, get: { data: Buffer.alloc(20_000, 9), revision: 5 } };
    expect(stream.responseDeserialize(encodeClientResponse(one)!)).toEqual(viaLoader(one));
  });

  it('leaves other results, big values and unexpected types to proto-loader', () => {
    expect(encodeClientResponse({ id: 1, multi: { results: [] } })).toBeUndefined();
    expect(encodeClientResponse({ id: 1, get_children: { children: ['a'] } })).toBeUndefined();
    expect(encodeClientResponse({ id: 1, get: { data: Buffer.alloc(100_000) } })).toBeUndefined();
    expect(encodeClientResponse({ id: 'x', set: {} })).toBeUndefined();
    expect(encodeClientResponse({ id: -1, set: {} })).toBeUndefined();
    expect(encodeClientResponse({ id: 1, set: { stat: { version: 1.5 } } })).toBeUndefined();
    expect(encodeClientResponse({ id: 1, delete: { extra: 1 } })).toBeUndefined();
    // The encoder is reused: a refusal leaves nothing behind for the next answer.
    const ok = { id: 3, set: { stat: { version: 2 } } };
    expect(stream.responseDeserialize(encodeClientResponse(ok)!)).toEqual(viaLoader(ok));
  });
});
