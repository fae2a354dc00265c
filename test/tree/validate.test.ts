import { describe, expect, it } from 'vitest';
import { sessionId } from '../../src/util/brand.js';
import type { Command, Envelope } from '../../src/tree/commands.js';
import type { TreeErrorCode } from '../../src/tree/errors.js';
import { treeLimits } from '../../src/tree/limits.js';
import { validateCommand, validateEnvelope } from '../../src/tree/validate.js';
import { check, create, del, multi, set } from './helpers.js';

const limits = treeLimits({ maxDataBytes: 8, maxMultiOps: 3, maxBatch: 2 });

describe('validateCommand refuses, before Raft, what the tree would refuse anyway', () => {
  const cases: [string, Command, TreeErrorCode, string, number?][] = [
    ['relative path', create('a'), 'invalidPath', "path must start with '/'"],
    [
      'sequential prefix too long',
      create('/' + 'x'.repeat(4086), { mode: 'persistentSequential' }),
      'invalidPath',
      'path is 4097 UTF-8 bytes',
    ],
    [
      'data too large',
      create('/a', { data: '123456789' }),
      'tooLarge',
      'data is 9 bytes; the limit is 8 bytes',
    ],
    ['set data too large', set('/a', '123456789'), 'tooLarge', 'data is 9 bytes'],
    [
      'ephemeral without session',
      create('/a', { mode: 'ephemeralSequential' }),
      'invalidArgument',
      'mode ephemeralSequential needs the owning session',
    ],
    [
      'ttl mode without ttl',
      create('/a', { mode: 'persistentWithTtl', ttlMs: 0 }),
      'invalidArgument',
      'needs ttlMs between 1 and',
    ],
    ['negative ttl', create('/a', { mode: 'persistentWithTtl', ttlMs: -5 }), 'invalidArgument', 'got -5'],
    [
      'ttl on a container',
      create('/a', { mode: 'container', ttlMs: 10 }),
      'invalidArgument',
      'ttlMs is only allowed with mode persistentWithTtl (mode is container)',
    ],
    ['fractional version', set('/a', '', 1.5), 'invalidArgument', 'expectedVersion must be -1'],
    ['delete root', del('/'), 'invalidArgument', "the root '/' cannot be deleted"],
    ['check alone', check('/a', 0), 'invalidArgument', 'check is only allowed inside a multi'],
    [
      'too many ops',
      multi(check('/', 0), check('/', 0), check('/', 0), check('/', 0)),
      'limitExceeded',
      'multi has 4 ops; the limit is 3',
    ],
    [
      'bad op in multi',
      multi(check('/', 0), create('/a//b')),
      'invalidPath',
      "op 1: path must not contain empty segments ('//')",
      1,
    ],
    [
      'multi in multi',
      { type: 'multi', ops: [{ type: 'multi', ops: [] } as never] },
      'invalidArgument',
      'a multi may only contain create, set, delete and check: got multi',
      0,
    ],
    [
      'zero timeout',
      { type: 'openSession', timeoutMs: 0 },
      'invalidArgument',
      'session timeoutMs must be between 1 and',
    ],
    [
      'close session 0',
      { type: 'closeSession', sessionId: sessionId(0n) },
      'invalidArgument',
      'closeSession needs a sessionId',
    ],
    [
      'too many expiries',
      { type: 'expireSessions', sessionIds: [1n, 2n, 3n].map(sessionId) },
      'limitExceeded',
      'expireSessions lists 3 ids; the limit is 2',
    ],
    [
      'sweep the root',
      { type: 'sweep', targets: [{ path: '/', expectedVersion: 0 }] },
      'invalidArgument',
      "the root '/' cannot be swept",
    ],
    [
      'sweep bad children version',
      { type: 'sweep', targets: [{ path: '/a', expectedVersion: 0, expectedChildrenVersion: -3 }] },
      'invalidArgument',
      'expectedChildrenVersion must be -1',
    ],
  ];
  it.each(cases)('%s → %s', (_n, cmd, code, message, failedOp) => {
    const r = validateCommand(cmd, limits);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe(code);
    expect(r.error.message).toContain(message);
    expect(r.error.failedOp).toBe(failedOp);
  });

  it.each([
    ['persistent', create('/a', { data: '12345678' })],
    ['sequential with trailing slash', create('/q/', { mode: 'persistentSequential' })],
    ['ephemeral with session', create('/a', { mode: 'ephemeral', session: 5n })],
    ['ttl', create('/a', { mode: 'persistentWithTtl', ttlMs: 1 })],
    ['session id ignored for persistent', create('/a', { session: 9n })],
    ['multi at the limit', multi(create('/a'), set('/a', 'x'), del('/a'))],
    ['empty multi', multi()],
  ])('accepts %s', (_n, cmd) => {
    expect(validateCommand(cmd, limits)).toEqual({ ok: true, value: cmd });
  });
});

describe('validateEnvelope', () => {
  const env = (e: Partial<Envelope>): Envelope => ({ timeMs: 1, command: create('/a'), ...e });
  it.each([
    [env({ timeMs: -1 }), 'envelope timeMs must be a non-negative integer'],
    [
      env({ client: { clientId: 'c', seq: -1, firstUnacked: 0 } }),
      'header sequence must be a non-negative integer',
    ],
    [
      env({ client: { clientId: 'c', seq: 3, firstUnacked: 4 } }),
      'firstUnacked must be between 0 and the sequence 3: got 4',
    ],
    [env({ client: { clientId: '', seq: 3, firstUnacked: 0 } }), 'clientId must not be empty'],
    [env({ client: { clientId: 'a\ud800', seq: 3, firstUnacked: 0 } }), 'clientId must be valid UTF-16'],
    [env({ command: create('x') }), "path must start with '/'"],
  ])('refuses %#: %s', (e, message) => {
    const r = validateEnvelope(e, limits);
    expect(!r.ok && r.error.message).toContain(message);
  });

  it('accepts a well-formed envelope', () => {
    const e = env({ client: { clientId: 'client-ü', seq: 3, firstUnacked: 3 } });
    expect(validateEnvelope(e, limits)).toEqual({ ok: true, value: e });
  });
});
