/**
 * The session table. Liveness (keep-alives, timers) is NOT here: the leader decides expiry and
 * proposes expireSessions, so every replica drops the same sessions at the same revision.
 */
import type { SessionId } from '../util/brand.js';
import type { ZPath } from './path.js';

export interface SessionInfo {
  readonly sessionId: SessionId;
  readonly timeoutMs: number;
}

export interface SessionEntry {
  readonly timeoutMs: number;
  /** Invariant: exactly the paths of live znodes whose ephemeralOwner is this session. */
  readonly ephemerals: Set<ZPath>;
}

export class SessionTable {
  private readonly map = new Map<SessionId, SessionEntry>();

  get(id: SessionId): SessionEntry | undefined {
    return this.map.get(id);
  }

  has(id: SessionId): boolean {
    return this.map.has(id);
  }

  get size(): number {
    return this.map.size;
  }

  open(id: SessionId, timeoutMs: number): SessionEntry {
    const e: SessionEntry = { timeoutMs, ephemerals: new Set() };
    this.map.set(id, e);
    return e;
  }

  /** Re-inserts an entry removed by remove() (multi/command rollback). */
  put(id: SessionId, e: SessionEntry): void {
    this.map.set(id, e);
  }

  remove(id: SessionId): void {
    this.map.delete(id);
  }

  clear(): void {
    this.map.clear();
  }

  /** All live sessions, ordered by id (= the revision that opened them). */
  list(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const [sessionId, e] of this.map) out.push({ sessionId, timeoutMs: e.timeoutMs });
    return out.sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
  }

  entries(): IterableIterator<[SessionId, SessionEntry]> {
    return this.map.entries();
  }
}
