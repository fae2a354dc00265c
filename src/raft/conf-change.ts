/**
 * Single-server membership changes (dissertation §4.1): one voter added, removed or promoted at a
 * time, so any two consecutive configurations share a majority and no joint consensus is needed.
 * Like etcd-io/raft, a change takes effect on a member when the server APPLIES the committed entry
 * (RawNode.applyConfChange), not when it is appended; the leader guards against the
 * single-server bug (§4.1 erratum) by refusing a change before it commits an entry of its term.
 */
import { ByteReader, ByteWriter, DecodeError } from '../util/bytes.js';
import type { LogIndex, NodeId, Term } from '../util/brand.js';
import { err, ok } from '../util/result.js';
import type { Result } from '../util/result.js';
import type { ConfChange, ConfChangeType, ConfState, Entry, HardState } from './types.js';
import { EntryType } from './types.js';

const CC_TYPES: readonly ConfChangeType[] = ['addVoter', 'addLearner', 'promoteLearner', 'removeNode'];

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const w = new ByteWriter(cc.context.length + 16);
  w.u8(CC_TYPES.indexOf(cc.type)).uvarint(cc.nodeId).bytes(cc.context);
  return w.finish();
}

/** Throws DecodeError on malformed input. `context` is a view into `b`. */
export function decodeConfChange(b: Uint8Array): ConfChange {
  const r = new ByteReader(b);
  const type = CC_TYPES[r.u8()];
  if (type === undefined) throw new DecodeError('bad conf change type');
  const nodeId = r.uvarint() as NodeId;
  if (nodeId === 0) throw new DecodeError('conf change for node 0');
  const context = r.bytes();
  r.end();
  return { type, nodeId, context };
}

/** Why a proposed change cannot apply to the current configuration. */
export function validateConfChange(conf: ConfState, cc: ConfChange): Result<void, string> {
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  switch (cc.type) {
    case 'addVoter':
      return isVoter ? err(`${cc.nodeId} is already a voter`) : ok(undefined);
    case 'addLearner':
      if (isLearner) return err(`${cc.nodeId} is already a learner`);
      if (isVoter && conf.voters.length === 1) return err('cannot demote the last voter');
      return ok(undefined);
    case 'promoteLearner':
      return isLearner ? ok(undefined) : err(`${cc.nodeId} is not a learner`);
    case 'removeNode':
      if (!isVoter && !isLearner) return err(`${cc.nodeId} is not a member`);
      if (isVoter && conf.voters.length === 1) return err('cannot remove the last voter');
      return ok(undefined);
  }
}

/**
 * The configuration after `cc`. Total and idempotent (re-applying after a crash is harmless):
 * an impossible change (e.g. promoting a non-learner) leaves the configuration as it is, as etcd
 * does for changes that were valid when proposed but raced with another.
 */
export function applyToConf(conf: ConfState, cc: ConfChange): ConfState {
  const id = cc.nodeId;
  const voters = conf.voters.filter((v) => v !== id);
  const learners = conf.learners.filter((l) => l !== id);
  const wasVoter = voters.length !== conf.voters.length;
  const wasLearner = learners.length !== conf.learners.length;
  switch (cc.type) {
    case 'addVoter':
      voters.push(id);
      break;
    case 'addLearner':
      // Demoting the last voter would leave a cluster that can never elect a leader.
      if (wasVoter && voters.length === 0) return conf;
      learners.push(id);
      break;
    case 'promoteLearner':
      if (!wasLearner) return conf;
      voters.push(id);
      break;
    case 'removeNode':
      if (wasVoter && voters.length === 0) return conf;
      break;
  }
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}

/**
 * The initial state of a brand-new cluster (etcd's Bootstrap): one committed ConfChange entry per
 * founding voter, in term 1. Putting the founding configuration IN THE LOG matters: a member added
 * later replays the log from index 1 and must rebuild the same configuration from it.
 * The server persists all three, starts with applied = 0 and re-applies the entries (idempotent).
 */
export function bootstrapState(voters: readonly NodeId[]): {
  entries: Entry[];
  hardState: HardState;
  conf: ConfState;
} {
  const entries: Entry[] = voters.map((id, i) => ({
    term: 1 as Term,
    index: (i + 1) as LogIndex,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: 'addVoter', nodeId: id, context: new Uint8Array(0) }),
  }));
  const conf: ConfState = { voters: [...voters].sort((a, b) => a - b), learners: [] };
  return {
    entries,
    hardState: { term: 1 as Term, vote: 0 as NodeId, commit: voters.length as LogIndex },
    conf,
  };
}
