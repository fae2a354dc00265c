import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/tree/event-log.js';
import type { TreeEvent } from '../../src/tree/events.js';
import { OPEN_ACL } from '../../src/tree/acl.js';
import type { ZPath } from '../../src/tree/path.js';
import { create, Driver, set } from './helpers.js';

const ev = (revision: number, path = '/a', size = 0): TreeEvent => ({
  type: 'updated',
  path: path as ZPath,
  revision,
  data: new Uint8Array(size),
  stat: {
    createdRevision: 1,
    modifiedRevision: revision,
    childrenRevision: 1,
    version: 1,
    childrenVersion: 0,
    createdMs: 0,
    modifiedMs: 0,
    ephemeralOwner: 0n,
    dataLength: size,
    numChildren: 0,
    aclVersion: 0,
  },
  acl: OPEN_ACL,
});

describe('EventLog', () => {
  it('replays every event from a revision, in order', () => {
    const log = new EventLog({ maxEvents: 100, maxBytes: 1e9 });
    log.append([ev(1)]);
    log.append([ev(3, '/x'), ev(3, '/y')]);
    log.append([ev(4)]);
    expect(log.since(2)).toEqual([ev(3, '/x'), ev(3, '/y'), ev(4)]);
    expect(log.since(1)).toHaveLength(4);
    expect(log.since(5)).toEqual([]);
  });

  it('evicts whole revisions past the count bound and reports compaction', () => {
    const log = new EventLog({ maxEvents: 3, maxBytes: 1e9 });
    log.append([ev(1)]);
    log.append([ev(2, '/p'), ev(2, '/q')]);
    log.append([ev(3)]); // 4 events > 3: revision 1 goes
    expect(log.length).toBe(3);
    expect(log.since(1)).toEqual({ compacted: 2 });
    expect(log.since(2)).toHaveLength(3);
    log.append([ev(4)]); // both events of revision 2 go together
    expect(log.oldestRevision).toBe(3);
    expect(log.since(2)).toEqual({ compacted: 3 });
    expect(log.since(3)).toEqual([ev(3), ev(4)]);
  });

  it('evicts past the byte bound', () => {
    const log = new EventLog({ maxEvents: 1000, maxBytes: 2000 });
    for (let r = 1; r <= 10; r++) log.append([ev(r, '/a', 500)]);
    expect(log.byteSize).toBeLessThanOrEqual(2000);
    expect(log.since(10)).toHaveLength(1);
    expect(log.since(1)).toEqual({ compacted: log.oldestRevision });
  });

  it('knows nothing before its start revision (e.g. after a restart)', () => {
    const log = new EventLog({ maxEvents: 10, maxBytes: 1e9, startRevision: 50 });
    expect(log.since(50)).toEqual({ compacted: 51 });
    expect(log.since(51)).toEqual([]);
  });

  it('refuses out-of-order appends', () => {
    const log = new EventLog({ maxEvents: 10, maxBytes: 1e9 });
    log.append([ev(5)]);
    expect(() => log.append([ev(4)])).toThrow(RangeError);
  });

  it('replays what the tree produced', () => {
    const d = new Driver();
    const log = new EventLog({ maxEvents: 10_000, maxBytes: 1e9 });
    log.append(d.apply(create('/a')).events);
    log.append(d.apply(set('/a', 'x')).events);
    log.append(d.apply(create('/b/c', { parents: true })).events);
    const r = log.since(2);
    expect(Array.isArray(r) && r.map((e) => [e.type, e.path, e.revision])).toEqual([
      ['updated', '/a', 2],
      ['created', '/b', 3],
      ['created', '/b/c', 3],
    ]);
  });

  it('stays compact over many appends', () => {
    const log = new EventLog({ maxEvents: 100, maxBytes: 1e9 });
    for (let r = 1; r <= 20_000; r++) log.append([ev(r)]);
    expect(log.length).toBe(100);
    expect(log.since(19_901)).toHaveLength(100);
  });
});
