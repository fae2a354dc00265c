/**
 * The client's hand decoder of watch responses builds exactly what @grpc/proto-loader builds with
 * the client's loader options, for any message the proto allows, and skips fields it does not
 * know — except that Stat's 64-bit fields and watch revisions below 2^53 come as numbers (the
 * same value proto-loader gives as a decimal string).
 */
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { rng, wireValues } from '../wire-values.js';
import { LOADER_OPTIONS, PROTO_DIR, PROTO_FILE } from '../../src/client/proto.js';
import { decodeWatchManyResponse, decodeWatchResponse } from '../../src/client/watch-decode.js';
import { decodeClientResponse } from '../../src/client/response-decode.js';

// A definition of its own: the client's patches the deserializers under test.
const def = protoLoader.loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
const service = def['arbor.v1.Arbor'] as protoLoader.ServiceDefinition;
const many = service['WatchMany']!;
const single = service['Watch']!;
const stream = service['Stream']!;

/** The fields the hand decoders may give as numbers (Stat's 64-bit ones, watch revisions). */
const NUMERIC = new Set([
  'createdRevision',
  'modifiedRevision',
  'childrenRevision',
  'version',
  'childrenVersion',
  'createdMs',
  'modifiedMs',
  'ephemeralOwner',
  'aclVersion',
  'revision',
]);

let numbersSeen = 0;

/**
 * `decoded` as proto-loader would give it: those fields' numbers as decimal strings. A number is
 * only allowed when exact (a safe integer); a value past 2^53 must have stayed a string.
 */
function asLoader(decoded: unknown): unknown {
  if (Array.isArray(decoded)) return decoded.map(asLoader);
  if (decoded === null || typeof decoded !== 'object' || Buffer.isBuffer(decoded)) return decoded;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(decoded)) {
    if (NUMERIC.has(k) && typeof v === 'number') {
      expect(Number.isSafeInteger(v), `${k} = ${v}`).toBe(true);
      numbersSeen++;
      out[k] = String(v);
    } else out[k] = asLoader(v);
  }
  return out;
}

function gen(r: () => number): {
  u64(): string;
  i64(): string;
  event(): Record<string, unknown>;
  response(depth: number): Record<string, unknown>;
  clientResponse(): Record<string, unknown>;
} {
  const { pick, u64, i64 } = wireValues(r);
  const event = (): Record<string, unknown> => ({
    type: pick(['EVENT_TYPE_UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED']),
    path: pick(['/', '/a/b', '/ünï/çødé/✓', `/k${Math.floor(r() * 1e6)}`]),
    data: Buffer.from(Array.from({ length: pick([0, 1, 200, 3000]) }, () => Math.floor(r() * 256))),
    ...(r() < 0.8
      ? {
          stat: {
            createdRevision: u64(),
            modifiedRevision: u64(),
            childrenRevision: u64(),
            version: i64(),
            childrenVersion: i64(),
            createdMs: i64(),
            modifiedMs: i64(),
            ephemeralOwner: u64(),
            dataLength: Math.floor(r() * 2 ** 32),
            numChildren: Math.floor(r() * 1000),
            aclVersion: i64(),
          },
        }
      : {}),
    revision: u64(),
  });
  const response = (depth: number): Record<string, unknown> => {
    const m: Record<string, unknown> = {
      watchId: u64(),
      created: r() < 0.3,
      revision: u64(),
      events: Array.from({ length: pick([0, 1, 3]) }, event),
      progress: r() < 0.2,
      canceled: r() < 0.2,
      compactRevision: u64(),
    };
    if (r() < 0.3)
      m.error = {
        code: Math.floor(r() * 17),
        message: pick(['', 'no such node', 'ñ']),
        failedOp: pick([-1, 0, 7]),
      };
    if (depth > 0 && r() < 0.5) m.batch = Array.from({ length: pick([1, 2, 5]) }, () => response(depth - 1));
    return m;
  };
  const stat = (): Record<string, unknown> => (event().stat as Record<string, unknown> | undefined) ?? {};
  /** A ClientResponse with any result (or none), as the member sends them on the session stream. */
  const clientResponse = (): Record<string, unknown> => {
    const data = event().data;
    const results: Record<string, unknown>[] = [
      {},
      {
        error: {
          code: Math.floor(r() * 17),
          message: pick(['', 'no node', 'ñ']),
          failedOp: pick([-1, 0, 3]),
        },
      },
      { create: { path: pick(['/a', '/ünï/k-0000000007']), ...(r() < 0.9 ? { stat: stat() } : {}) } },
      { get: { data, ...(r() < 0.9 ? { stat: stat() } : {}), revision: u64() } },
      { set: r() < 0.9 ? { stat: stat() } : {} },
      { delete: {} },
      { exists: { exists: r() < 0.5, ...(r() < 0.5 ? { stat: stat() } : {}), revision: u64() } },
      { getChildren: { children: ['a', 'b'], stat: stat(), revision: u64() } },
      { multi: { results: [{ create: { path: '/m', stat: stat() } }, { check: {} }] } },
      { sync: { revision: u64() } },
      { keepAlive: { sessionId: u64(), ttlMs: i64() } },
    ];
    return { id: u64(), ...pick(results) };
  };
  return { u64, i64, event, response, clientResponse };
}

describe('hand-decoded watch responses', () => {
  it('equal proto-loader’s objects for random WatchManyResponses and WatchResponses', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const g = gen(rng(seed));
      const m = g.response(2);
      const bytes = many.responseSerialize(m);
      expect(asLoader(decodeWatchManyResponse(bytes)), `seed ${seed}`).toEqual(
        many.responseDeserialize(bytes),
      );
      const w = {
        created: m.created,
        revision: m.revision,
        events: m.events,
        progress: m.progress,
        compactRevision: g.u64(),
      };
      const wb = single.responseSerialize(w);
      expect(asLoader(decodeWatchResponse(wb)), `seed ${seed}`).toEqual(single.responseDeserialize(wb));
    }
    expect(numbersSeen).toBeGreaterThan(1_000);
  });

  it('gives 64-bit values past 2^53 as exact decimal strings', () => {
    const big = '18446744073709551615';
    const bytes = many.responseSerialize({
      watchId: '1',
      revision: big,
      events: [
        {
          type: 'UPDATED',
          path: '/a',
          revision: '9007199254740993',
          stat: { version: '-9007199254740993', modifiedRevision: '9007199254740991' },
        },
      ],
    });
    const d = decodeWatchManyResponse(bytes);
    expect(d.revision).toBe(big);
    expect(d.events[0]!.revision).toBe('9007199254740993');
    expect(d.events[0]!.stat!.version).toBe('-9007199254740993');
    expect(d.events[0]!.stat!.modifiedRevision).toBe(9007199254740991);
    expect(d.events[0]!.stat!.createdRevision).toBe(0);
  });

  it('decodes session-stream answers of every result to proto-loader’s objects', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const g = gen(rng(seed));
      const bytes = stream.responseSerialize(g.clientResponse());
      expect(asLoader(decodeClientResponse(bytes, stream.responseDeserialize)), `seed ${seed}`).toEqual(
        stream.responseDeserialize(bytes),
      );
    }
    // Two results in one message (the last wins in proto-loader) and unknown fields.
    const g = gen(rng(5));
    const two = Buffer.concat([
      stream.responseSerialize({ id: '9', set: { stat: {} } }),
      stream.responseSerialize({ get: { data: Buffer.from('x'), revision: '3' } }),
      Buffer.from([((20 << 3) & 0x7f) | 0x80, 20 >> 4, 0x07]),
    ]);
    expect(asLoader(decodeClientResponse(two, stream.responseDeserialize))).toEqual(
      stream.responseDeserialize(two),
    );
    const extra = Buffer.concat([
      stream.responseSerialize(g.clientResponse()),
      Buffer.from([(13 << 3) | 0, 1]),
    ]);
    expect(asLoader(decodeClientResponse(extra, stream.responseDeserialize))).toEqual(
      stream.responseDeserialize(extra),
    );
  });

  it('names every EventType value the proto declares as proto-loader does', () => {
    const values = (def['arbor.v1.EventType'] as unknown as { type: { value: { number: number }[] } }).type
      .value;
    expect(values.length).toBeGreaterThan(1);
    for (const { number } of [...values, { number: 99 }]) {
      const bytes = single.responseSerialize({ events: [{ type: number, path: '/e' }] });
      expect(asLoader(decodeWatchResponse(bytes))).toEqual(single.responseDeserialize(bytes));
    }
  });

  it('skips fields it does not know, of every wire type', () => {
    const g = gen(rng(42));
    const known = many.responseSerialize(g.response(1));
    const unknown = Buffer.from([
      ...[(10 << 3) | 0, 0x96, 0x01], // varint
      ...[(11 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8], // fixed64
      ...[(12 << 3) | 2, 3, 0x61, 0x62, 0x63], // length-delimited
      ...[(13 << 3) | 5, 1, 2, 3, 4], // fixed32
      ...[((300 << 3) & 0x7f) | 0x80, 300 >> 4, 0x05], // field 300: a two-byte tag
    ]);
    const bytes = Buffer.concat([unknown, known, unknown]);
    expect(asLoader(decodeWatchManyResponse(bytes))).toEqual(many.responseDeserialize(known));
  });

  it('on corrupted bytes either decodes or throws an Error, and always ends', () => {
    const r = rng(99);
    const g = gen(r);
    for (let i = 0; i < 2_000; i++) {
      const bytes = Buffer.from(many.responseSerialize(g.response(1)));
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++)
        bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      try {
        decodeWatchManyResponse(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
      const answer = Buffer.from(stream.responseSerialize(g.clientResponse()));
      answer[Math.floor(r() * answer.length)] = Math.floor(r() * 256);
      try {
        decodeClientResponse(answer, stream.responseDeserialize);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }
  });

  it('throws on a truncated message instead of returning part of it', () => {
    const g = gen(rng(7));
    let m = g.response(0);
    while ((m.events as unknown[]).length === 0) m = g.response(0);
    const bytes = many.responseSerialize(m);
    for (const cut of [1, 5, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expect(() => decodeWatchManyResponse(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow();
    }
  });
});
