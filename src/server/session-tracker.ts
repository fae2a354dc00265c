/**
 * Session liveness, kept by the leader only (ZooKeeper's SessionTracker). The tree holds which
 * sessions exist; this table holds when each was last heard from. A member that becomes leader
 * gives every session a fresh full timeout, since it cannot know when the old leader last heard
 * from them. Expiry is proposed through Raft, so every member deletes the same ephemerals.
 */
export class SessionTracker {
  /** session id → monotonic deadline (ms). */
  private readonly deadlines = new Map<bigint, number>();
  /** Sessions whose expiry has been proposed and not yet applied. */
  private readonly expiring = new Set<bigint>();

  reset(sessions: Iterable<{ id: bigint; timeoutMs: number }>, now: number): void {
    this.deadlines.clear();
    this.expiring.clear();
    for (const s of sessions) this.deadlines.set(s.id, now + s.timeoutMs);
  }

  clear(): void {
    this.deadlines.clear();
    this.expiring.clear();
  }

  opened(id: bigint, timeoutMs: number, now: number): void {
    this.deadlines.set(id, now + timeoutMs);
  }

  closed(id: bigint): void {
    this.deadlines.delete(id);
    this.expiring.delete(id);
  }

  /** Returns false when the session is unknown here or already being expired. */
  touch(id: bigint, timeoutMs: number, now: number): boolean {
    if (!this.deadlines.has(id) || this.expiring.has(id)) return false;
    this.deadlines.set(id, now + timeoutMs);
    return true;
  }

  /** Sessions past their deadline that have not yet been proposed for expiry. */
  takeExpired(now: number, max: number): bigint[] {
    const out: bigint[] = [];
    for (const [id, deadline] of this.deadlines) {
      if (deadline <= now && !this.expiring.has(id)) {
        this.expiring.add(id);
        out.push(id);
        if (out.length >= max) break;
      }
    }
    return out;
  }

  /** The expiry proposal failed: let the next tick try again. */
  retry(ids: readonly bigint[]): void {
    for (const id of ids) this.expiring.delete(id);
  }
}
