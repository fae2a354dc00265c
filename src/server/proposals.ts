/**
 * Proposals waiting for their entry to apply. A proposal is known by the (index, term) the leader
 * gave it: if the entry applied at that index has another term, the proposal was overwritten and
 * can never commit (Log Matching), so it definitely did not apply. If the member loses leadership
 * the proposal stays pending — it may still commit under the next leader — until it applies, is
 * overwritten, or its deadline passes ("outcome unknown", hashicorp/raft's ErrLeadershipLost).
 */
import { MemberError } from './errors.js';
import type { Deferred } from './deferred.js';

export interface Applied<T> {
  readonly revision: number;
  readonly value: T;
}

interface Pending<T> {
  readonly term: number;
  readonly deferred: Deferred<Applied<T>>;
  readonly deadline: number;
}

export class ProposalTable<T> {
  private readonly byIndex = new Map<number, Pending<T>>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, d: Deferred<Applied<T>>, deadline: number): void {
    this.byIndex.set(index, { term, deferred: d, deadline });
  }

  /** Called for every applied entry; returns the waiter when this entry is the proposal. */
  take(index: number, term: number): Deferred<Applied<T>> | undefined {
    const p = this.byIndex.get(index);
    if (!p) return undefined;
    this.byIndex.delete(index);
    if (p.term === term) return p.deferred;
    p.deferred.reject(
      new MemberError('unavailable', 'leadership changed before the write committed; it was not applied'),
    );
    return undefined;
  }

  /** Rejects proposals whose deadline passed: they may or may not apply later. */
  expire(now: number): void {
    for (const [index, p] of this.byIndex) {
      if (p.deadline <= now) {
        this.byIndex.delete(index);
        p.deferred.reject(
          new MemberError(
            'outcomeUnknown',
            'the write was proposed but did not commit before the deadline; it may still apply',
          ),
        );
      }
    }
  }

  /** A snapshot replaced the log: entries up to `index` will never be applied here one by one. */
  dropUpTo(index: number): void {
    for (const [i, p] of this.byIndex) {
      if (i <= index) {
        this.byIndex.delete(i);
        p.deferred.reject(
          new MemberError('outcomeUnknown', 'the member installed a snapshot; the outcome is unknown'),
        );
      }
    }
  }

  rejectAll(err: MemberError): void {
    for (const p of this.byIndex.values()) p.deferred.reject(err);
    this.byIndex.clear();
  }
}
