import { describe, expect, it } from 'vitest';
import { loadArborProto } from '../../src/api/proto.js';
import { WatchFlag, WatchManyBatch } from '../../src/api/watch-encoding.js';
import { eventToProto } from '../../src/api/convert.js';
import { OPEN_ACL } from '../../src/tree/acl.js';
import type { TreeEvent } from '../../src/tree/events.js';
import type { ZPath } from '../../src/tree/path.js';

function event(i: number, type: TreeEvent['type'], data: Uint8Array): TreeEvent {
  return {
    type,
    path: `/app/node-${i}` as ZPath,
    revision: 1_000 + i,
    data,
    acl: OPEN_ACL,
    stat: {
      createdRevision: 10 + i,
      modifiedRevision: 1_000 + i,
      childrenRevision: 10 + i,
      version: i,
      childrenVersion: 0,
      createdMs: 1_700_000_000_000 + i,
      modifiedMs: 1_700_000_000_500 + i,
      ephemeralOwner: BigInt(i) << 40n,
      dataLength: data.length,
      numChildren: i % 3,
      aclVersion: 0,
    },
  };
}

describe('pre-encoded watch responses', () => {
  const proto = loadArborProto();
  const watch = proto.arbor['Watch']!;
  const many = proto.arbor['WatchMany']!;
  const events = [
    event(1, 'created', new Uint8Array(0)),
    event(2, 'updated', new Uint8Array(300).fill(7)),
    event(3, 'deleted', new Uint8Array([1, 2, 3])),
  ];

  it('decode to the same WatchManyResponse as the object encoding, for any watch id', () => {
    for (const wid of ['0', '1', '300', '18446744073709551615']) {
      const bytes = proto.watchEncoder.watchMany(proto.watchEncoder.watchId(wid), 1_003, events);
      const viaObject = many.responseSerialize({
        watch_id: wid,
        revision: 1_003,
        events: events.map(eventToProto),
      });
      expect(many.responseDeserialize(bytes)).toEqual(many.responseDeserialize(viaObject));
      expect(many.responseDeserialize(bytes)).toMatchObject({ watch_id: wid, revision: '1003' });
    }
  });

  it('decode to the same WatchResponse as the object encoding, sharing event bytes across responses', () => {
    const a = proto.watchEncoder.watch(1_003, events);
    // The same events again (cached bytes) and for WatchMany in between: neither changes the other.
    proto.watchEncoder.watchMany(proto.watchEncoder.watchId('9'), 1_003, events);
    const b = proto.watchEncoder.watch(1_003, events);
    const viaObject = watch.responseSerialize({ revision: 1_003, events: events.map(eventToProto) });
    expect(watch.responseDeserialize(a)).toEqual(watch.responseDeserialize(viaObject));
    expect(b.equals(a)).toBe(true);
    const decoded = watch.responseDeserialize(a) as { events: { path: string; data: Buffer }[] };
    expect(decoded.events.map((e) => e.path)).toEqual(['/app/node-1', '/app/node-2', '/app/node-3']);
    expect(decoded.events[1]!.data.length).toBe(300);
  });

  it('packs responses into one message whose batch entries decode as each response alone', () => {
    const enc = proto.watchEncoder;
    const sent: [Buffer, number][] = [];
    const b = new WatchManyBatch(1_000_000, (m, w) => sent.push([m, w]));
    const alone: Buffer[] = [];
    for (const [wid, evs] of [
      ['7', events],
      ['8', events.slice(1)],
      ['9', [event(4, 'updated', new Uint8Array(200_000).fill(9))]],
    ] as const) {
      enc.pack(b, enc.watchId(wid), 2_000, evs);
      alone.push(enc.watchMany(enc.watchId(wid), 2_000, evs));
    }
    const created = { watch_id: '10', created: true, revision: 5 };
    enc.packMessage(b, created);
    alone.push(many.responseSerialize(created));
    expect(b.weight).toBe(3 + 2 + 1 + 1);
    b.flush();
    expect(b.empty).toBe(true);
    expect(sent.length).toBe(1);
    const [bytes, weight] = sent[0]!;
    expect(weight).toBe(7);
    expect(bytes.length).toBeGreaterThan(200_000);
    const decoded = many.responseDeserialize(bytes) as { batch: unknown[]; watch_id: string };
    expect(decoded.watch_id).toBe('0');
    expect(decoded.batch).toEqual(alone.map((x) => many.responseDeserialize(x)));
  });

  it('sends a batch before an entry would take it past its limit', () => {
    const enc = proto.watchEncoder;
    const sent: Buffer[] = [];
    const b = new WatchManyBatch(1_000, (m) => sent.push(m));
    const small = [event(5, 'updated', new Uint8Array(300))];
    for (let i = 0; i < 5; i++) enc.pack(b, enc.watchId(String(i)), 9, small);
    // A response bigger than the limit goes out alone.
    enc.pack(b, enc.watchId('99'), 9, [event(6, 'updated', new Uint8Array(5_000))]);
    b.flush();
    const decoded = sent.map((m) => (many.responseDeserialize(m) as { batch: { watch_id: string }[] }).batch);
    expect(decoded.map((d) => d.map((r) => r.watch_id))).toEqual([['0', '1'], ['2', '3'], ['4'], ['99']]);
    for (const m of sent.slice(0, 3)) expect(m.length).toBeLessThanOrEqual(1_000);
  });

  it('encodes random events by hand to what the object encoding decodes to', () => {
    let seed = 7;
    const r = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const big = (): number => Math.floor(r() * 2 ** (1 + Math.floor(r() * 52)));
    const types = ['created', 'updated', 'deleted'] as const;
    for (let i = 0; i < 2_000; i++) {
      const data = new Uint8Array(Math.floor(r() * 4) === 0 ? 0 : Math.floor(r() * 2_000)).fill(i & 255);
      const e: TreeEvent = {
        type: types[i % 3]!,
        path: (i % 5 === 0 ? `/ünï/✓${i}` : `/p/${'x'.repeat(Math.floor(r() * 300))}`) as ZPath,
        revision: big(),
        data,
        acl: OPEN_ACL,
        stat: {
          createdRevision: big(),
          modifiedRevision: big(),
          childrenRevision: big(),
          version: big(),
          childrenVersion: big(),
          createdMs: big(),
          modifiedMs: big(),
          ephemeralOwner: i % 2 === 0 ? 0n : BigInt(big()) * BigInt(1 + Math.floor(r() * 2_000)),
          dataLength: data.length,
          numChildren: Math.floor(r() * 2 ** 32),
          aclVersion: big(),
        },
      };
      const bytes = proto.watchEncoder.watchMany(proto.watchEncoder.watchId(String(i)), e.revision, [e]);
      const viaObject = many.responseSerialize({
        watch_id: String(i),
        revision: e.revision,
        events: [eventToProto(e)],
      });
      expect(many.responseDeserialize(bytes), `event ${i}`).toEqual(many.responseDeserialize(viaObject));
    }
  });

  it('encodes created, progress and canceled answers by hand as the object encoding does', () => {
    const enc = proto.watchEncoder;
    const sent: Buffer[] = [];
    const b = new WatchManyBatch(1_000_000, (m) => sent.push(m));
    const expected: unknown[] = [];
    for (const wid of ['0', '5', '300', '9007199254740993', '18446744073709551615'])
      for (const revision of [0, 1, 200, 2 ** 40])
        for (const [flag, field] of [
          [WatchFlag.created, 'created'],
          [WatchFlag.progress, 'progress'],
          [WatchFlag.canceled, 'canceled'],
        ] as const) {
          const obj = { watch_id: wid, [field]: true, revision };
          const want = many.responseDeserialize(many.responseSerialize(obj));
          expect(
            many.responseDeserialize(enc.flag(enc.watchId(wid), flag, revision)),
            `${wid} ${field}`,
          ).toEqual(want);
          enc.packFlag(b, enc.watchId(wid), flag, revision);
          expected.push(want);
        }
    b.flush();
    expect(sent.length).toBe(1);
    expect((many.responseDeserialize(sent[0]!) as { batch: unknown[] }).batch).toEqual(expected);
  });

  it('leaves responses given as objects to the original serializer', () => {
    const obj = { watch_id: '5', created: true, revision: 7 };
    const bytes = many.responseSerialize(obj);
    expect(many.responseDeserialize(bytes)).toMatchObject({ watch_id: '5', created: true, revision: '7' });
  });
});
