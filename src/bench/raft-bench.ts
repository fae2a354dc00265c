/**
 * Raft core throughput: an in-memory 3-member cluster (MemoryStorage, direct message delivery,
 * optionally through the binary codec) driven by the Ready loop, proposing batches of small
 * entries. Prints committed (applied on the leader) entries per second.
 *
 *   node dist/bench/raft-bench.js [batch=256] [seconds=3] [codec=1]
 */
import { decodeMessage, encodeMessage } from '../raft/codec.js';
import { MemoryStorage } from '../raft/memory-storage.js';
import type { Message } from '../raft/messages.js';
import { RawNode } from '../raft/raw-node.js';
import type { NodeId } from '../util/brand.js';
import { seededRng } from '../util/rng.js';
import { print } from './print.js';

interface Member {
  raw: RawNode;
  st: MemoryStorage;
  applied: number;
}

function run(batch: number, seconds: number, useCodec: boolean): void {
  const voters = [1, 2, 3].map((x) => x as NodeId);
  const members = new Map<number, Member>();
  for (const id of voters) {
    const st = MemoryStorage.bootstrap(voters);
    const raw = new RawNode(
      {
        id,
        electionTick: 10,
        heartbeatTick: 1,
        maxSizePerMsg: 1 << 20,
        maxInflightMsgs: 256,
        preVote: true,
        checkQuorum: true,
      },
      st,
      seededRng(id),
    );
    members.set(id, { raw, st, applied: 0 });
  }
  let queue: Message[] = [];
  const pump = (): void => {
    for (let rounds = 0; rounds < 1000; rounds++) {
      let moved = false;
      for (const m of members.values()) {
        while (m.raw.hasReady()) {
          moved = true;
          const rd = m.raw.ready();
          if (rd.snapshot) m.st.applySnapshot(rd.snapshot);
          m.st.append(rd.entries);
          if (rd.hardState) m.st.setHardState(rd.hardState);
          for (const msg of rd.messages) queue.push(useCodec ? decodeMessage(encodeMessage(msg)) : msg);
          const last = rd.committedEntries[rd.committedEntries.length - 1];
          if (last !== undefined) m.applied = last.index;
          m.raw.advance(rd);
          // Keep the log bounded as a server would after snapshotting.
          if (m.applied - m.st.firstIndex() > 200_000) {
            m.st.createSnapshot(m.applied as never, { voters, learners: [] }, new Uint8Array());
            m.st.compact((m.applied - 10_000) as never);
          }
        }
      }
      if (queue.length > 0) {
        moved = true;
        const q = queue;
        queue = [];
        for (const msg of q) members.get(msg.to)?.raw.step(msg);
      }
      if (!moved) return;
    }
  };
  const leader = members.get(1) as Member;
  pump(); // apply the bootstrap configuration entries first
  leader.raw.campaign();
  pump();
  if (leader.raw.status().role !== 'leader') throw new Error('bench: no leader');
  const payload = new Uint8Array(16);
  const datas = new Array<Uint8Array>(batch).fill(payload);
  const startApplied = leader.applied;
  const t0 = performance.now();
  let proposed = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 8; i++) {
      const r = leader.raw.propose(datas);
      if (!r.ok) throw new Error(`propose failed: ${r.error.type}`);
      proposed += batch;
    }
    pump();
  }
  const dt = (performance.now() - t0) / 1000;
  const committed = leader.applied - startApplied;
  const minApplied = Math.min(...[...members.values()].map((m) => m.applied));
  print(
    `raft-bench: batch=${batch} codec=${useCodec ? 'on' : 'off'} ${committed} entries committed in ${dt.toFixed(2)}s ` +
      `= ${Math.round(committed / dt).toLocaleString('en-US')} entries/s (proposed ${proposed}, slowest member applied ${minApplied - startApplied})`,
  );
}

const [batchArg, secArg, codecArg] = process.argv.slice(2);
run(Number(batchArg ?? 256), Number(secArg ?? 3), (codecArg ?? '1') !== '0');
