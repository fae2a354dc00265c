import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/util/bytes.js';
import { InvariantError } from '../../src/util/assert.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/tree/command-codec.js';
import type { Command, Envelope } from '../../src/tree/commands.js';
import { TREE_ERROR_CODES } from '../../src/tree/errors.js';
import { decodeResult, encodeResult } from '../../src/tree/result-codec.js';
import type { CommandOutcome } from '../../src/tree/results.js';
import { clientKey, keyBytes, nodeKey, parseKey, resultKey, userKey } from '../../src/tree/records.js';
import { DataTree } from '../../src/tree/data-tree.js';
import { Driver, replacer } from './helpers.js';
import { opArb, stepArb } from './gen.js';
import { sessionId } from '../../src/util/brand.js';

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  stepArb.map((s): Command => (s.command === 'sweep' ? { type: 'sweep', targets: [] } : s.command)),
  opArb,
  fc
    .array(
      fc.record(
        {
          path: fc.string(),
          expectedVersion: fc.integer({ min: -1, max: 1e9 }),
          expectedChildrenVersion: fc.nat(),
        },
        { requiredKeys: ['path', 'expectedVersion'] },
      ),
    )
    .map((targets): Command => ({ type: 'sweep', targets })),
  fc.integer({ min: -5, max: 1e12 }).map((timeoutMs): Command => ({ type: 'openSession', timeoutMs })),
  fc
    .bigInt({ min: 0n, max: 2n ** 64n - 1n })
    .map((id): Command => ({ type: 'closeSession', sessionId: sessionId(id) })),
);

const envelopeArb: fc.Arbitrary<Envelope> = fc
  .record(
    {
      timeMs: fc.nat(),
      client: fc.record({ clientId: fc.string(), seq: fc.nat(), firstUnacked: fc.nat() }),
      command: commandArb,
    },
    { requiredKeys: ['timeMs', 'command'] },
  )
  .map((e) => e as Envelope);

const norm = (x: unknown): string =>
  JSON.stringify(x, (k, v: unknown) => (v instanceof Uint8Array ? [...v] : replacer(k, v)));

describe('envelope codec', () => {
  it('round-trips every command', () => {
    fc.assert(
      fc.property(envelopeArb, (e) => {
        expect(norm(decodeEnvelope(encodeEnvelope(e)))).toBe(norm(e));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes data as a view into the input, not a copy', () => {
    const bytes = encodeEnvelope({
      timeMs: 1,
      command: { type: 'set', path: '/a', data: new Uint8Array([1, 2, 3]), expectedVersion: -1 },
    });
    const e = decodeEnvelope(bytes);
    expect(e.command.type === 'set' && e.command.data.buffer).toBe(bytes.buffer);
  });

  it('hostile bytes only ever throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeEnvelope(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid encodings only ever throw DecodeError', () => {
    fc.assert(
      fc.property(envelopeArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (e, at, v, cut) => {
        const b = encodeEnvelope(e).slice();
        b[at % b.length] = v;
        for (const x of [b, b.subarray(0, cut % (b.length + 1))]) {
          try {
            decodeEnvelope(x);
          } catch (err) {
            expect(err).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects unknown formats, tags, modes and trailing bytes with a DecodeError', () => {
    const good = encodeEnvelope({ timeMs: 5, command: { type: 'openSession', timeoutMs: 10 } });
    expect(() => decodeEnvelope(new Uint8Array([9, ...good.subarray(1)]))).toThrow(
      'unknown envelope format 9',
    );
    expect(() => decodeEnvelope(new Uint8Array([...good, 0]))).toThrow(DecodeError);
    expect(() => decodeEnvelope(new Uint8Array([1, 0, 0, 99]))).toThrow('unknown command tag 99');
    expect(() => decodeEnvelope(new Uint8Array([1, 0, 0, 5, 1, 5, 0]))).toThrow('nested multi');
    expect(() => decodeEnvelope(new Uint8Array([1, 0, 0, 5, 100]))).toThrow('count 100 exceeds');
  });
});

describe('result codec', () => {
  it('round-trips real outcomes of random commands', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), (steps) => {
        const d = new Driver();
        for (const s of steps) {
          const o = d.apply(
            s.command === 'sweep' ? { type: 'sweep', targets: d.tree.findSweepTargets(d.timeMs) } : s.command,
          );
          expect(norm(decodeResult(encodeResult(o.result)))).toBe(norm(o.result));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips every error code with path and failedOp', () => {
    for (const code of TREE_ERROR_CODES) {
      const o: CommandOutcome = { ok: false, error: { code, message: `m ${code}`, path: '/p', failedOp: 3 } };
      expect(decodeResult(encodeResult(o))).toEqual(o);
    }
  });

  it('hostile bytes only ever throw DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeResult(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('record keys', () => {
  // The stored layout: UTF-8 of the key, except 'r' keys (clientId, 0x00, seq as u64 big-endian).
  const reference = (key: string): Uint8Array => {
    if (key.startsWith('r')) {
      const nul = key.lastIndexOf('\u0000');
      const id = new TextEncoder().encode(key.slice(1, nul));
      const out = new Uint8Array(id.length + 10);
      out[0] = 0x72;
      out.set(id, 1);
      new DataView(out.buffer).setBigUint64(id.length + 2, BigInt(key.slice(nul + 1)));
      return out;
    }
    return new TextEncoder().encode(key);
  };
  const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'a', 'é', '/a/b'));

  it('keyBytes writes the stored layout, ASCII or not, and parseKey reads it back', () => {
    fc.assert(
      fc.property(
        text,
        fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 5 }), fc.constant(Number.MAX_SAFE_INTEGER)),
        fc.constantFrom('node', 'client', 'result', 'user'),
        (t, seq, kind) => {
          const key =
            kind === 'node'
              ? nodeKey('/' + t)
              : kind === 'client'
                ? clientKey(t)
                : kind === 'result'
                  ? resultKey(t, seq)
                  : userKey(t);
          const bytes = keyBytes(key);
          expect(Buffer.from(bytes).equals(Buffer.from(reference(key)))).toBe(true);
          if (kind === 'result' && t.length > 0 && !t.includes('\u0000'))
            expect(parseKey(bytes)).toEqual({ type: 'result', clientId: t, seq });
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('record codecs', () => {
  it('hostile keys and values only ever throw DecodeError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 24 }),
        fc.uint8Array({ maxLength: 48 }),
        (k, v) => {
          try {
            parseKey(k);
            DataTree.fromRecords([[k, v]]);
          } catch (e) {
            // Malformed bytes are DecodeErrors; well-formed records that do not form a tree are
            // InvariantErrors (e.g. a node whose parent is missing).
            expect(e instanceof DecodeError || e instanceof InvariantError).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
