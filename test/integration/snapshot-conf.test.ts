/**
 * Chaos finding 1 (docs/testing.md): a follower that is sent a snapshot for an index its own log
 * already holds, while it does not yet know that index is committed.
 *
 * The leader sends a snapshot whenever it believes the follower is behind its compaction point,
 * and that belief can be stale: acknowledgements lost on a broken stream (onUnreachable puts the
 * follower back to probing from its last acknowledged index) while the follower did receive the
 * entries. The Raft core then does not restore the snapshot (etcd's rule: if the log already holds
 * the entry, it only learns that it is committed) and goes on to hand out the committed entries
 * up to it. If the member has installed the image anyway, it skips those entries as applied, and
 * the configuration changes among them never reach the core: from then on the core's voters and
 * learners differ from the member's configuration and address book (messages to "unknown peers",
 * a wrong quorum), and every later change is computed from the core's stale configuration.
 *
 * In-process members on real LevelDB storage, wired by a scripted in-memory transport; the
 * scenario is forced with message filters, not timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/raft/codec.js';
import type { Message } from '../../src/raft/messages.js';
import type { MemberInfo } from '../../src/server/address-book.js';
import { Member } from '../../src/server/member.js';
import type { TransportPort } from '../../src/server/ports.js';
import { ArborStore } from '../../src/storage/arbor-store.js';
import { treeLimits } from '../../src/tree/limits.js';
import { nodeId, sessionId, type NodeId } from '../../src/util/brand.js';
import { seededRng } from '../../src/util/rng.js';
import { until as poll } from '../../src/bench/proc-cluster.js';

const clock = { nowMs: () => Date.now(), monoMs: () => performance.now() };
const until = <T>(what: string, f: () => T | undefined | false): Promise<T> => poll(f, 10_000, what);

/** Every Raft message passes through `filter` (undefined: lost), decoded, like a network would. */
class Hub {
  readonly members = new Map<number, Member>();
  readonly transports = new Map<number, HubTransport>();
  filter: (m: Message) => Message | undefined = (m) => m;
}

class HubTransport implements TransportPort {
  onUnreachable: ((id: NodeId) => void) | undefined = undefined;
  constructor(
    private readonly hub: Hub,
    private readonly self: number,
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  setPeers(): void {}
  send(to: NodeId, message: Uint8Array): void {
    const m = this.hub.filter(decodeMessage(message));
    const target = this.hub.members.get(to);
    if (m === undefined || target === undefined) return;
    const b = encodeMessage(m);
    setImmediate(() => target.onMessages(nodeId(this.self), [b]));
  }
  async sendSnapshot(to: NodeId, header: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const target = this.hub.members.get(to);
    if (target === undefined) throw new Error(`no member ${to}`);
    await target.onSnapshot(nodeId(this.self), header, chunks);
  }
  async forward(to: NodeId, kind: string, payload: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    const target = this.hub.members.get(to);
    if (target === undefined) throw new Error(`no member ${to}`);
    return target.onForward(nodeId(this.self), kind, payload, deadlineMs);
  }
}

const info = (id: number): MemberInfo => ({
  id: nodeId(id),
  name: `m${id}`,
  peerUrl: `127.0.0.1:${9000 + id}`,
  clientUrl: `127.0.0.1:${9100 + id}`,
});

let dir: string | undefined;
let running: { member: Member; store: ArborStore }[] = [];

afterEach(async () => {
  for (const r of running) {
    await r.member.stop();
    await r.store.close();
  }
  running = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function startCluster(hub: Hub): Promise<Map<number, { member: Member; store: ArborStore }>> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-snapconf-'));
  const initialCluster = new Map([1, 2, 3].map((id) => [nodeId(id), info(id)] as const));
  const out = new Map<number, { member: Member; store: ArborStore }>();
  for (const id of [1, 2, 3]) {
    const store = await ArborStore.open(path.join(dir, `m${id}`));
    const transport = new HubTransport(hub, id);
    const member = new Member(
      {
        self: info(id),
        clusterId: 'snapconf',
        initialCluster,
        join: false,
        tickMs: 20,
        electionTicks: 25,
        heartbeatTicks: 2,
        limits: treeLimits(),
        snapshotEntries: 1_000_000, // compaction only where the test asks for it (AddMember)
        catchUpEntries: 0,
        storage: store,
        transport,
        clock,
        rng: seededRng(id),
        logger: pino({ level: 'silent' }),
      },
      (e) => {
        throw e;
      },
    );
    hub.members.set(id, member);
    hub.transports.set(id, transport);
    out.set(id, { member, store });
    running.push({ member, store });
  }
  for (const { member } of out.values()) await member.start();
  return out;
}

function create(p: string): Parameters<Member['write']>[0] {
  return {
    timeMs: Date.now(),
    command: {
      type: 'create',
      path: p,
      data: new TextEncoder().encode(p),
      mode: 'persistent',
      sessionId: sessionId(0n),
      ttlMs: 0,
      createParents: false,
    },
  };
}

describe('snapshot for entries the follower already holds (chaos finding 1)', () => {
  it('keeps the Raft configuration in step with the member: no configuration change is skipped', async () => {
    const hub = new Hub();
    const c = await startCluster(hub);
    const all = [...c.values()].map((x) => x.member);
    const leaderId = await until('a leader', () => {
      const l = all[0]?.status().leader ?? 0;
      return l !== 0 && all.every((m) => m.status().leader === l) ? l : undefined;
    });
    const L = c.get(leaderId)!.member;
    const [F, X] = [1, 2, 3].filter((i) => i !== leaderId) as [number, number];
    const follower = c.get(F)!;
    const deadline = (): number => clock.monoMs() + 5000;
    for (let i = 0; i < 5; i++) await L.write(create(`/a${i}`), deadline());
    await until('all members to apply the same index', () => {
      const a = all.map((m) => m.status().applied);
      return a.every((x) => x === a[0]) && follower.member.status().commit === a[0];
    });

    // F keeps receiving the leader's entries but never learns that they commit, and its
    // acknowledgements are lost: the leader's idea of F's log stays at c0 while F's log grows.
    const c0 = follower.member.status().commit;
    // Every append gets exactly one answer (commit-only ones go to F as plain appends, which it
    // answers too): counting both tells when F has answered them all.
    let appends = 0;
    let answers = 0;
    let acked = 0;
    hub.filter = (m) => {
      if (m.from === F && m.to === leaderId) {
        if (m.type === 'appResp') {
          answers++;
          if (!m.reject) acked = Math.max(acked, m.index);
        }
        return undefined;
      }
      if (m.from === leaderId && m.to === F && (m.type === 'app' || m.type === 'heartbeat')) {
        if (m.type === 'app') appends++;
        const commit = Math.min(m.commit, c0);
        return (m.type === 'app' ? { ...m, commit, commitOnly: false } : { ...m, commit }) as Message;
      }
      return m;
    };
    for (let i = 0; i < 3; i++) await L.write(create(`/b${i}`), deadline());
    // A configuration change (committed by the leader and X); AddMember compacts the leader's log
    // to its applied index first, so F's entries below it can now only come as a snapshot.
    await L.admin(
      {
        type: 'addMember',
        id: 4,
        name: 'm4',
        peerUrl: '127.0.0.1:9004',
        clientUrl: '127.0.0.1:9104',
        asLearner: true,
      },
      deadline(),
    );
    for (let i = 0; i < 3; i++) await L.write(create(`/c${i}`), deadline());
    const S = L.status().applied;
    expect(L.status().conf.learners).toEqual([4]);
    // F holds every entry up to S in its own log, yet knows only c0 < S as committed.
    await until('F to hold (and answer) every entry up to S', () => acked >= S && answers === appends);
    expect(follower.member.status().commit).toBe(c0);
    expect(follower.member.status().applied).toBe(c0);

    // The stream to F breaks (the leader goes back to probing from F's last acknowledged index,
    // which is compacted away), then F's answers get through again: the leader sends a snapshot.
    hub.transports.get(leaderId)!.onUnreachable?.(nodeId(F));
    hub.filter = (m) =>
      m.from === leaderId && m.to === F && (m.type === 'app' || m.type === 'heartbeat')
        ? ({ ...m, commit: Math.min(m.commit, c0) } as Message)
        : m;
    await until('F to catch up to S', () => follower.member.status().applied >= S);
    hub.filter = (m) => m;

    // One more change. Each member computes the new configuration from its core's current one:
    // a core that missed the first change would now disagree with the others.
    await L.admin(
      {
        type: 'addMember',
        id: 5,
        name: 'm5',
        peerUrl: '127.0.0.1:9005',
        clientUrl: '127.0.0.1:9105',
        asLearner: true,
      },
      deadline(),
    );
    const target = L.status().applied;
    await until('all members to apply the second change', () =>
      all.every((m) => m.status().applied >= target),
    );
    for (const id of [leaderId, F, X]) {
      const st = c.get(id)!.member.status();
      expect({ id, conf: st.conf }).toEqual({ id, conf: { voters: [1, 2, 3], learners: [4, 5] } });
      expect({ id, members: [...st.members.keys()].sort() }).toEqual({ id, members: [1, 2, 3, 4, 5] });
    }
    // The leader never changed: the scenario ran as scripted.
    expect(all.map((m) => m.status().leader)).toEqual([leaderId, leaderId, leaderId]);
  });
});
