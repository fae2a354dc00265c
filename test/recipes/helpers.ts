/**
 * Shared set-up for recipe tests: a real three-member cluster (test/integration/harness.ts)
 * and ArborClients with short retry backoff, each with its own session, closed after each test.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ArborClient, type Session } from '../../src/client/index.js';
import { TestCluster } from '../integration/harness.js';

export { TestCluster, until } from '../integration/harness.js';

/** Short enough that expiry tests stay quick, long enough to ride out a leader election. */
export const SESSION_TIMEOUT_MS = 2_000;

export interface Participant {
  readonly client: ArborClient;
  readonly session: Session;
}

export class Fixture {
  private readonly clients: ArborClient[] = [];
  private readonly sessions: Session[] = [];

  private started: TestCluster | undefined;

  /** The cluster; there once the file's beforeAll (see useFixture) has run. */
  get cluster(): TestCluster {
    if (this.started === undefined) throw new Error('the recipe fixture has no cluster yet');
    return this.started;
  }

  async start(): Promise<void> {
    this.started = await TestCluster.start({ size: 3 });
  }

  async stop(): Promise<void> {
    await this.started?.stop();
  }

  get endpoints(): string[] {
    return this.cluster.members.filter((m) => m.proc !== undefined).map((m) => m.clientAddr);
  }

  client(): ArborClient {
    const c = new ArborClient({
      endpoints: this.cluster.members.map((m) => m.clientAddr),
      backoff: { baseMs: 20, maxMs: 200 },
      attemptTimeoutMs: 2_000,
      defaultDeadlineMs: 15_000,
    });
    this.clients.push(c);
    return c;
  }

  async participant(timeoutMs = SESSION_TIMEOUT_MS): Promise<Participant> {
    const client = this.client();
    const session = await client.session({ timeoutMs });
    this.sessions.push(session);
    return { client, session };
  }

  async participants(n: number, timeoutMs = SESSION_TIMEOUT_MS): Promise<Participant[]> {
    return Promise.all(Array.from({ length: n }, () => this.participant(timeoutMs)));
  }

  /**
   * A participant whose client talks to member `id` only, so freezing that member (SIGSTOP) cuts
   * the client off together with it: a partition of client + member from the rest.
   */
  async islandParticipant(id: number, timeoutMs = SESSION_TIMEOUT_MS): Promise<Participant> {
    const client = new ArborClient({
      endpoints: [this.cluster.member(id).clientAddr],
      backoff: { baseMs: 20, maxMs: 200 },
      attemptTimeoutMs: 1_000,
      defaultDeadlineMs: 5_000,
    });
    this.clients.push(client);
    const session = await client.session({ timeoutMs });
    return { client, session };
  }

  /** Close sessions (their ephemerals go at once) and clients. */
  async cleanup(): Promise<void> {
    await Promise.all(this.sessions.splice(0).map((s) => s.close().catch(() => undefined)));
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }

  /** Kill the Raft leader (SIGKILL), wait for a new one, restart the old one; returns its id. */
  async killLeader(): Promise<number> {
    const leader = await this.cluster.waitForLeader();
    await this.cluster.kill(leader);
    await this.cluster.waitForLeader(30_000, [leader]);
    return leader;
  }

  async restart(id: number): Promise<void> {
    this.cluster.restart(id);
    await this.cluster.waitForLeader(30_000);
  }
}

/** One three-member cluster for the test file, with clients and sessions closed after each test. */
export function useFixture(): Fixture {
  const fx = new Fixture();
  beforeAll(() => fx.start(), 60_000);
  afterEach(() => fx.cleanup());
  afterAll(() => fx.stop());
  return fx;
}

/** A unique directory per test, so tests in one file share a cluster without interfering. */
let n = 0;
export function freshPath(what: string): string {
  n++;
  return `/recipes-test/${what}-${n}-${Date.now()}`;
}
