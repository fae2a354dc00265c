import { describe, expect, it } from 'vitest';
import type { ClientHeader } from '../../src/tree/commands.js';
import { create, Driver, set, state, text } from './helpers.js';

const hdr = (seq: number, firstUnacked = 0, clientId = 'client-1'): ClientHeader => ({
  clientId,
  seq,
  firstUnacked,
});

describe('exactly-once client table (Raft dissertation §6.3)', () => {
  it('a retry returns the original result and changes nothing, with no events', () => {
    const d = new Driver();
    const first = d.apply(create('/a', { data: 'v1' }), hdr(1));
    expect(first.events).toHaveLength(1);
    d.ok(set('/a', 'v2')); // someone else changes the node meanwhile
    const digest = d.tree.digest();
    const before = state(d.tree);
    const retry = d.apply(create('/a', { data: 'v1' }), hdr(1));
    expect(retry.result).toEqual(first.result);
    expect(retry.events).toEqual([]);
    expect(d.tree.digest()).toBe(digest);
    expect(state(d.tree)).toEqual(before);
    expect(text(d.tree.get('/a')?.data)).toBe('v2');
  });

  it('failures are remembered too: a retry gets the same error, even if it would now succeed', () => {
    const d = new Driver();
    const e = d.fail(create('/p/c'), hdr(1));
    expect(e.code).toBe('noNode');
    d.ok(create('/p'));
    expect(d.fail(create('/p/c'), hdr(1))).toEqual(e);
    expect(d.tree.exists('/p/c')).toBeUndefined();
  });

  it('sequences are per client', () => {
    const d = new Driver();
    d.ok(create('/a'), hdr(1, 0, 'x'));
    expect(d.ok(create('/b'), hdr(1, 0, 'y'))).toMatchObject({ path: '/b' });
  });

  it('results below firstUnacked are dropped; retrying them is duplicateUnknown', () => {
    const d = new Driver();
    d.ok(create('/a'), hdr(1));
    d.ok(create('/b'), hdr(2));
    d.ok(create('/c'), hdr(3, 2)); // the client saw the answers to 1
    expect(d.tree.takeChanges().length).toBeGreaterThan(0);
    const e = d.fail(create('/a'), hdr(1, 1));
    expect(e.code).toBe('duplicateUnknown');
    expect(e.message).toBe(
      "request 1 of client 'client-1' was already applied but its result is no longer kept (results below 2 are dropped): " +
        'do not retry acknowledged requests; read the state instead',
    );
    expect(d.ok(create('/b'), hdr(2, 2))).toMatchObject({ path: '/b' }); // still cached
  });

  it('keeps at most maxResultsPerClient results, forgetting the oldest', () => {
    const d = new Driver({ maxResultsPerClient: 3 });
    for (let i = 1; i <= 5; i++) d.ok(create(`/n${i}`), hdr(i));
    expect(d.fail(create('/n2'), hdr(2)).code).toBe('duplicateUnknown');
    expect(d.ok(create('/n3'), hdr(3))).toMatchObject({ path: '/n3' });
  });

  it('a client idle longer than clientIdleMs (by envelope time) is forgotten', () => {
    const d = new Driver({ clientIdleMs: 1000 });
    d.ok(create('/a'), hdr(1, 0, 'idle'));
    d.ok(create('/keep'), hdr(1, 0, 'busy'));
    d.timeMs += 600;
    d.ok(create('/x'), hdr(2, 0, 'busy'));
    d.timeMs += 600; // 'idle' unseen for 1200 ms, 'busy' for 600 ms
    d.ok(create('/y'));
    // Forgotten: the retry is applied as new (and fails, since /a exists).
    expect(d.fail(create('/a'), hdr(1, 0, 'idle')).code).toBe('nodeExists');
    expect(d.ok(create('/x'), hdr(2, 0, 'busy'))).toMatchObject({ path: '/x' });
  });

  it('an invalid header is refused without touching the table', () => {
    const d = new Driver();
    expect(d.fail(create('/a'), hdr(1, 5)).message).toContain(
      'firstUnacked must be between 0 and the sequence 1: got 5',
    );
    expect(d.fail(create('/a'), hdr(1, 0, '')).message).toContain('clientId must not be empty');
    expect(d.fail(create('/a'), hdr(1, 0, 'a\nb')).message).toContain(
      'clientId must not contain control characters',
    );
    expect(d.fail(create('/a'), hdr(1, 0, 'x'.repeat(300))).message).toContain('clientId is 300 UTF-8 bytes');
    expect(d.ok(create('/a'), hdr(1))).toMatchObject({ path: '/a' });
  });

  it('the table is persisted and restored with its cached results', async () => {
    const { DataTree } = await import('../../src/tree/data-tree.js');
    const d = new Driver();
    const first = d.apply(create('/a'), hdr(7));
    const r = DataTree.fromRecords(d.tree.records());
    expect(r.apply({ timeMs: d.timeMs, client: hdr(7), command: create('/a') }, 100).result).toEqual(
      first.result,
    );
  });
});

describe('per-client order: a write never applies out of the order its client sent it', () => {
  it('a write whose earlier unanswered write has not applied is refused (outOfOrder) and not recorded', () => {
    const d = new Driver();
    d.ok(create('/a'), hdr(1, 1));
    // Request 2 was lost in a leader change; 3 (sent while 2 was unanswered) must not overtake it.
    const e = d.fail(create('/c'), hdr(3, 2));
    expect(e.code).toBe('outOfOrder');
    expect(e.message).toMatch(/retry the client's requests in order/);
    expect(d.tree.exists('/c')).toBeUndefined();
    // The client retries in order: 2, then 3; both apply.
    expect(d.ok(create('/b'), hdr(2, 2))).toMatchObject({ path: '/b' });
    expect(d.ok(create('/c'), hdr(3, 2))).toMatchObject({ path: '/c' });
  });

  it('a write the client gave up on never applies after a later one', () => {
    const d = new Driver();
    d.ok(create('/a'), hdr(1, 1));
    // The client stopped waiting for 2 (answered "unknown") and sent 3 with firstUnacked 3.
    d.ok(create('/c'), hdr(3, 3));
    // A delayed copy of 2 arrives: the client declared everything below 3 answered, so it is refused.
    const late = d.fail(create('/b'), hdr(2, 2));
    expect(late.code).toBe('duplicateUnknown');
    expect(d.tree.exists('/b')).toBeUndefined();
  });

  it('a first contact may start at any sequence once earlier ones are answered', () => {
    const d = new Driver();
    expect(d.ok(create('/x'), hdr(41, 41, 'late-joiner'))).toMatchObject({ path: '/x' });
    expect(d.fail(create('/y'), hdr(43, 42, 'late-joiner')).code).toBe('outOfOrder');
  });
});
