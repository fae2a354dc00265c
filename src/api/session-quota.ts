/**
 * Sessions per client (budgetKey: the identity while auth is on, else the IP). Each session costs every
 * replica memory and the leader a timer until it expires, so one client must not open them
 * without end. Counted on the member the client opens them through: a session's owner is not
 * replicated, so the budget is per member (a client spreading over N members gets N budgets,
 * which still bounds it). Sessions that closed or expired are noticed lazily, when their client
 * opens another, and in a sweep of the whole table every SWEEP_EVERY opens.
 */
import { MemberError } from '../server/errors.js';

const SWEEP_EVERY = 1024;

interface ClientSessions {
  /** Sessions this client opened that were still live when last looked at. */
  readonly live: Set<bigint>;
  /** Opens in flight: counted so that concurrent opens cannot overshoot the budget. */
  pending: number;
}

export class SessionQuota {
  private readonly clients = new Map<string, ClientSessions>();
  private opens = 0;

  /** `alive(id)` says whether a session still exists (this member's view of the tree). */
  constructor(
    readonly maxPerClient: number,
    private readonly alive: (id: bigint) => boolean,
  ) {}

  /**
   * Reserves a session for `client`, or throws RESOURCE_EXHAUSTED. The caller must follow up
   * with opened(client, id) or failed(client) exactly once.
   */
  reserve(client: string): void {
    if (++this.opens % SWEEP_EVERY === 0) this.sweep();
    let c = this.clients.get(client);
    if (c === undefined) {
      c = { live: new Set(), pending: 0 };
      this.clients.set(client, c);
    }
    if (c.live.size + c.pending >= this.maxPerClient) this.prune(c);
    if (c.live.size + c.pending >= this.maxPerClient) {
      throw new MemberError(
        'resourceExhausted',
        `client ${client} already has ${c.live.size + c.pending} sessions open through this member ` +
          `(--max-sessions-per-client ${this.maxPerClient}): close sessions it no longer uses, or share one session per process`,
      );
    }
    c.pending++;
  }

  opened(client: string, id: bigint): void {
    const c = this.clients.get(client);
    if (c === undefined) return;
    c.pending--;
    c.live.add(id);
  }

  failed(client: string): void {
    const c = this.clients.get(client);
    if (c === undefined) return;
    c.pending--;
    if (c.pending === 0 && c.live.size === 0) this.clients.delete(client);
  }

  /** Live sessions counted for `client` (tests). */
  count(client: string): number {
    const c = this.clients.get(client);
    return c === undefined ? 0 : c.live.size + c.pending;
  }

  private prune(c: ClientSessions): void {
    for (const id of c.live) if (!this.alive(id)) c.live.delete(id);
  }

  private sweep(): void {
    for (const [k, c] of this.clients) {
      this.prune(c);
      if (c.live.size === 0 && c.pending === 0) this.clients.delete(k);
    }
  }
}
