/** Prometheus metrics of one member (prom-client), read from the member when scraped. */
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Member } from '../server/member.js';

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;

export class Metrics {
  private readonly registry = new Registry();

  constructor(member: Member) {
    collectDefaultMetrics({ register: this.registry, prefix: 'arbor_process_' });
    const reg = [this.registry];
    new Gauge({
      name: 'arbor_raft_term',
      help: 'Current Raft term',
      registers: reg,
      collect() {
        this.set(member.status().term);
      },
    });
    new Gauge({
      name: 'arbor_raft_role',
      help: '1 for the role this member has',
      labelNames: ['role'],
      registers: reg,
      collect() {
        const r = member.status().role;
        for (const role of ROLES) this.set({ role }, role === r ? 1 : 0);
      },
    });
    new Gauge({
      name: 'arbor_raft_commit_index',
      help: 'Raft commit index known to this member',
      registers: reg,
      collect() {
        this.set(member.status().commit);
      },
    });
    new Gauge({
      name: 'arbor_raft_applied_index',
      help: 'Last applied log index (the revision)',
      registers: reg,
      collect() {
        this.set(member.status().applied);
      },
    });
    new Gauge({
      name: 'arbor_watches_active',
      help: 'Open watch streams on this member',
      registers: reg,
      collect() {
        this.set(member.watches.count);
      },
    });
    new Gauge({
      name: 'arbor_znodes',
      help: 'Number of znodes',
      registers: reg,
      collect() {
        this.set(member.tree.size());
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
