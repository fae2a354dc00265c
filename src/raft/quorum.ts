/**
 * Majority arithmetic over a single voter set (no joint consensus: single-server changes only).
 */
import type { NodeId } from '../util/brand.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/** Reused scratch array: committedIndex runs on every append response, so avoid allocating. */
const scratch: number[] = [];

/**
 * The largest value that a majority of voters have reached (e.g. the quorum-replicated log index):
 * sort descending and take the value at position quorum - 1. An empty voter set returns +Infinity,
 * as in etcd, so a leader removed from all voters never blocks on it.
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = acked(voters[i] as NodeId);
  if (n === 1) return scratch[0] as number;
  // Insertion sort (descending): voter sets are tiny (3-7).
  for (let i = 1; i < n; i++) {
    const v = scratch[i] as number;
    let j = i - 1;
    while (j >= 0 && (scratch[j] as number) < v) {
      scratch[j + 1] = scratch[j] as number;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[Math.floor(n / 2)] as number;
}

/** Election outcome given the votes received so far (undefined = no answer yet). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  const q = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let missing = 0;
  for (const v of voters) {
    const r = votes.get(v);
    if (r === undefined) missing++;
    else if (r) granted++;
  }
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export function quorumSize(voters: readonly NodeId[]): number {
  return Math.floor(voters.length / 2) + 1;
}
