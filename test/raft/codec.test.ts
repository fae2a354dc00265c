import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeEntry,
  decodeMessage,
  decodeSnapshot,
  encodeEntry,
  encodeMessage,
  encodeSnapshot,
} from '../../src/raft/codec.js';
import { decodeConfChange, encodeConfChange } from '../../src/raft/conf-change.js';
import { describeMessage } from '../../src/raft/describe.js';
import type { Message } from '../../src/raft/messages.js';
import type { Entry } from '../../src/raft/types.js';
import type { LogIndex, NodeId, Term } from '../../src/util/brand.js';
import { DecodeError } from '../../src/util/bytes.js';

const id = fc.integer({ min: 1, max: 1000 }).map((n) => n as NodeId);
const bytes = fc.uint8Array({ maxLength: 40 });

const msgArb: fc.Arbitrary<Message> = fc
  .record({
    from: id,
    to: id,
    term: fc.integer({ min: 5, max: 1e9 }),
    index: fc.integer({ min: 0, max: 1e12 }),
    kind: fc.integer({ min: 0, max: 11 }),
    reject: fc.boolean(),
    data: fc.array(bytes, { maxLength: 5 }),
    ctx: bytes,
  })
  .map(({ from, to, term, index, kind, reject, data, ctx }): Message => {
    const t = term as Term;
    const i = index as LogIndex;
    const base = { from, to, term: t };
    switch (kind) {
      case 0: {
        const entries: Entry[] = data.map((d, k) => ({
          term: t,
          index: (index + 1 + k) as LogIndex,
          type: (k % 2) as 0 | 1,
          data: d,
        }));
        return {
          ...base,
          type: 'app',
          index: i,
          logTerm: (term - 1) as Term,
          entries,
          commit: i,
          commitOnly: entries.length === 0 && reject,
        };
      }
      case 1:
        return { ...base, type: 'appResp', index: i, reject, rejectHint: i, logTerm: 3 as Term };
      case 2:
        return { ...base, type: 'vote', index: i, logTerm: 2 as Term, transfer: reject };
      case 3:
        return { ...base, type: 'preVote', index: i, logTerm: 2 as Term, transfer: false };
      case 4:
        return { ...base, type: 'voteResp', reject };
      case 5:
        return { ...base, type: 'preVoteResp', reject };
      case 6:
        return { ...base, type: 'heartbeat', commit: i, readSeq: 7 };
      case 7:
        return { ...base, type: 'heartbeatResp', readSeq: 9 };
      case 8:
        return {
          ...base,
          type: 'snap',
          snapshot: {
            meta: {
              index: (index + 1) as LogIndex,
              term: 4 as Term,
              conf: { voters: [1, 2].map((n) => n as NodeId), learners: [3 as NodeId] },
            },
            data: ctx,
          },
        };
      case 9:
        return { ...base, type: 'readIndex', ctx };
      case 10:
        return { ...base, type: 'readIndexResp', index: i, ctx };
      default:
        return { ...base, type: 'timeoutNow' };
    }
  });

describe('codec', () => {
  it('round-trips every message kind', () => {
    fc.assert(
      fc.property(msgArb, (m) => {
        const out = decodeMessage(encodeMessage(m));
        expect(out).toEqual(m);
        expect(describeMessage(out)).toBe(describeMessage(m));
      }),
      { numRuns: 2000 },
    );
  });

  it('hostile bytes never throw anything but DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid encodings never throw anything but DecodeError', () => {
    fc.assert(
      fc.property(msgArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (m, pos, val, cut) => {
        const b = encodeMessage(m).slice();
        if (b.length > 0) b[pos % b.length] = val;
        for (const x of [b, b.subarray(0, cut % (b.length + 1))]) {
          try {
            decodeMessage(x);
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects trailing bytes, zero node ids, non-consecutive entries and unknown versions', () => {
    const m: Message = { type: 'timeoutNow', from: 1 as NodeId, to: 2 as NodeId, term: 3 as Term };
    const b = encodeMessage(m);
    expect(() => decodeMessage(new Uint8Array([...b, 0]))).toThrow(DecodeError);
    expect(() => decodeMessage(new Uint8Array([2, ...b.subarray(1)]))).toThrow(DecodeError);
    expect(() => decodeMessage(encodeMessage({ ...m, from: 0 as NodeId }))).toThrow(DecodeError);
    const e = (index: number): Entry => ({
      term: 3 as Term,
      index: index as LogIndex,
      type: 0,
      data: new Uint8Array(1),
    });
    const bad: Message = {
      type: 'app',
      from: 1 as NodeId,
      to: 2 as NodeId,
      term: 3 as Term,
      index: 5 as LogIndex,
      logTerm: 3 as Term,
      commit: 0 as LogIndex,
      entries: [e(6), e(8)],
      commitOnly: false,
    };
    expect(() => decodeMessage(encodeMessage(bad))).toThrow(DecodeError);
    // The commit-only flag: only after an append without entries, and only as true.
    const append = encodeMessage({ ...bad, entries: [e(6)] });
    expect(decodeMessage(append)).toMatchObject({ type: 'app', commitOnly: false });
    expect(() => decodeMessage(new Uint8Array([...append, 1]))).toThrow(/carries entries/);
    const commit = encodeMessage({ ...bad, entries: [], commitOnly: true });
    expect(decodeMessage(commit)).toMatchObject({ type: 'app', commitOnly: true });
    // Unflagged, the layout is the one before the flag existed: the same bytes minus the last.
    expect(encodeMessage({ ...bad, entries: [] })).toEqual(commit.subarray(0, -1));
    // Never written on an append with entries.
    expect(encodeMessage({ ...bad, entries: [e(6)], commitOnly: true })).toEqual(append);
    expect(() => decodeMessage(new Uint8Array([...commit.subarray(0, -1), 0]))).toThrow(/false/);
    expect(() => decodeMessage(new Uint8Array([...commit, 1]))).toThrow(DecodeError);
  });

  it('keeps entry data as views into the input', () => {
    const m: Message = {
      type: 'app',
      from: 1 as NodeId,
      to: 2 as NodeId,
      term: 3 as Term,
      index: 0 as LogIndex,
      logTerm: 0 as Term,
      commit: 0 as LogIndex,
      entries: [{ term: 3 as Term, index: 1 as LogIndex, type: 0, data: new Uint8Array([1, 2, 3]) }],
      commitOnly: false,
    };
    const b = encodeMessage(m);
    const out = decodeMessage(b);
    expect(out.type === 'app' && out.entries[0]?.data.buffer).toBe(b.buffer);
  });

  it('round-trips entries, snapshots and conf changes', () => {
    const e: Entry = { term: 2 as Term, index: 9 as LogIndex, type: 1, data: new Uint8Array([7]) };
    expect(decodeEntry(encodeEntry(e))).toEqual(e);
    const s = {
      meta: { index: 4 as LogIndex, term: 2 as Term, conf: { voters: [1 as NodeId], learners: [] } },
      data: new Uint8Array([1]),
    };
    expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
    const cc = { type: 'promoteLearner' as const, nodeId: 4 as NodeId, context: new Uint8Array([9, 9]) };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(() => decodeConfChange(new Uint8Array([9, 1, 0]))).toThrow(DecodeError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), (b) => {
        for (const f of [decodeConfChange, decodeEntry, decodeSnapshot]) {
          try {
            f(b);
          } catch (err) {
            expect(err).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
