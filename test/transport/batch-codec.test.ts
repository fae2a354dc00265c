/**
 * The hand codec of Raft message batches writes the bytes protobufjs writes and reads what
 * proto-loader reads (with the peer protocol's loader options), and hands anything else over.
 */
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeMessageBatch, encodeMessageBatch } from '../../src/transport/batch-codec.js';
import { peerProto, type MessageBatch } from '../../src/transport/peer-proto.js';
import { rng } from '../wire-values.js';

// A definition of its own: peerProto() patches the functions under test into its copy.
const def = protoLoader.loadSync('arbor/v1/raft.proto', {
  includeDirs: [fileURLToPath(new URL('../../proto/', import.meta.url))],
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const plain = (def['arbor.peer.v1.Peer'] as protoLoader.ServiceDefinition)['Messages']!;
const loaderEncode = (b: object): Buffer => plain.requestSerialize(b);
const loaderDecode = (b: Buffer): unknown => plain.requestDeserialize(b);

/** Buffers compare by content (both decoders return views into the frame). */
function normal(v: unknown): unknown {
  const b = v as MessageBatch;
  return { ...b, messages: b.messages.map((m) => Buffer.from(m).toString('hex')) };
}

function genBatch(r: () => number): MessageBatch {
  const id = (): number =>
    [0, 1, 3, Math.floor(r() * 2 ** 32), Math.floor(r() * 2 ** 53)][Math.floor(r() * 5)]!;
  const messages: Uint8Array[] = [];
  const n = Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const len = [0, 1, 60, 127, 128, 300, 20_000][Math.floor(r() * 7)]!;
    const m = new Uint8Array(len);
    for (let j = 0; j < len; j++) m[j] = Math.floor(r() * 256);
    // Views at an offset, as the link sends slab-backed encodings.
    messages.push(r() < 0.5 ? m : Buffer.concat([Buffer.from([9, 9]), m]).subarray(2));
  }
  const clusterId = ['', 'arbor', 'c-' + Math.floor(r() * 1e9).toString(36), 'x'.repeat(200)][
    Math.floor(r() * 4)
  ]!;
  return { clusterId, from: id(), to: id(), messages };
}

describe('MessageBatch hand codec', () => {
  it('encodes 2000 random batches byte for byte as protobufjs does', () => {
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const b = genBatch(r);
      const mine = encodeMessageBatch(b);
      expect(mine, `batch ${i}`).toBeDefined();
      expect(mine!.equals(loaderEncode(b)), `batch ${i}`).toBe(true);
    }
  });

  it('decodes them to what proto-loader builds, messages as views into the frame', () => {
    const r = rng(11);
    for (let i = 0; i < 2000; i++) {
      const wire = loaderEncode(genBatch(r));
      const mine = decodeMessageBatch(wire);
      expect(mine, `batch ${i}`).toBeDefined();
      expect(normal(mine)).toEqual(normal(loaderDecode(wire)));
      for (const m of mine!.messages) if (m.length > 0) expect(m.buffer).toBe(wire.buffer);
    }
  });

  it('never throws on damaged bytes, and agrees with proto-loader whenever it decodes', () => {
    const r = rng(13);
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const wire = Buffer.from(loaderEncode(genBatch(r)));
      if (wire.length === 0) continue;
      const cut = r() < 0.3 ? wire.subarray(0, Math.floor(r() * wire.length)) : wire;
      for (let k = 0; k < 3; k++) cut[Math.floor(r() * cut.length)] = Math.floor(r() * 256);
      let mine: MessageBatch | undefined;
      expect(() => (mine = decodeMessageBatch(cut))).not.toThrow();
      if (mine === undefined) continue;
      decoded++;
      expect(normal(mine), `damaged batch ${i}`).toEqual(normal(loaderDecode(cut)));
    }
    // Most damage still parses (a flipped byte inside a message is just other bytes).
    expect(decoded).toBeGreaterThan(500);
  });

  it('agrees with proto-loader on random bytes it decodes (overlong varints left to it)', () => {
    const r = rng(17);
    let decoded = 0;
    for (let i = 0; i < 50_000; i++) {
      const b = Buffer.alloc(1 + Math.floor(r() * 30));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(r() * 256);
      const mine = decodeMessageBatch(b);
      if (mine === undefined) continue;
      decoded++;
      expect(normal(mine), b.toString('hex')).toEqual(normal(loaderDecode(b)));
    }
    expect(decoded).toBeGreaterThan(100);
  });

  it('leaves ids past 2^53, other wire types and odd values to proto-loader', () => {
    // from = 2^53 + 1 as a varint: exact only as a string, which proto-loader rounds itself.
    const big = loaderEncode({ clusterId: 'a', from: 0, to: 0, messages: [] });
    const from = Buffer.from([0x10, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(decodeMessageBatch(Buffer.concat([big, from]))).toBeUndefined();
    // Field 2 (from) sent length-delimited.
    expect(decodeMessageBatch(Buffer.from([0x12, 0x01, 0x05]))).toBeUndefined();
    // Non-ASCII cluster id.
    expect(decodeMessageBatch(loaderEncode({ clusterId: 'é', messages: [] }))).toBeUndefined();
    // An unknown field is skipped, as protobufjs does.
    const withUnknown = Buffer.concat([loaderEncode({ clusterId: 'a', from: 2 }), Buffer.from([0x28, 0x07])]);
    expect(decodeMessageBatch(withUnknown)).toEqual({ clusterId: 'a', from: 2, to: 0, messages: [] });
    expect(encodeMessageBatch({ clusterId: 'a', from: -1, to: 0, messages: [] })).toBeUndefined();
    expect(encodeMessageBatch({ clusterId: 'a', from: 1.5, to: 0, messages: [] })).toBeUndefined();
    const odd = { clusterId: 'a', from: 1, to: 2, messages: ['text'] } as unknown as MessageBatch;
    expect(encodeMessageBatch(odd)).toBeUndefined();
  });

  it('is what the peer protocol uses, with proto-loader behind it', () => {
    const m = peerProto().messages;
    const b: MessageBatch = { clusterId: 'arbor', from: 1, to: 2, messages: [new Uint8Array([1, 2, 3])] };
    const wire = m.requestSerialize(b);
    expect(wire.equals(loaderEncode(b))).toBe(true);
    expect(normal(m.requestDeserialize(wire))).toEqual(normal(b));
    // What the hand decoder refuses, proto-loader decodes (ids past 2^53 come back rounded).
    const from = Buffer.from([0x10, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(m.requestDeserialize(from).from).toBe(2 ** 53);
    const svc = peerProto().service['Messages']!;
    expect(svc.requestDeserialize).toBe(m.requestDeserialize);
  });
});
