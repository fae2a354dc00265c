/**
 * Prometheus metrics of one member (prom-client). Two kinds of source:
 * - read at scrape time from the outside (member.status(), the tree, the watch hub, store stats):
 *   nothing on the hot path pays for them;
 * - counters and latencies only the member sees as they happen, through the tiny
 *   `MemberMetrics` interface it is handed (a no-op object when metrics are off), and gRPC
 *   requests through a server interceptor.
 * Names follow Prometheus conventions (`_total` counters, `_seconds` durations) and etcd's
 * choices where one exists (db size as "data size", leader changes, proposals).
 */
import type { MemberMetrics } from '../server/ports.js';
import type { ServerInterceptor } from '@grpc/grpc-js';
import { ResponderBuilder, ServerInterceptingCall, status as GrpcStatus } from '@grpc/grpc-js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Member } from '../server/member.js';

/**
 * What the member reports as it happens. Structural: src/server may declare an identical
 * interface in its ports (it must not import src/api) and be handed this object.
 */
export { NO_MEMBER_METRICS } from '../server/ports.js';
export type { MemberMetrics } from '../server/ports.js';

/** The part of the store's statistics the metrics read (ArborStore.stats() satisfies it). */
export interface StoreStatsSource {
  stats(): {
    readonly logRecords: number;
    readonly logStartIndex: number;
    readonly syncedBatches: number;
    readonly lastSyncMs: number;
    readonly approxBytes: number;
  };
}

export interface MetricsSources {
  readonly member: Pick<Member, 'status' | 'tree' | 'watches'>;
  readonly store?: StoreStatsSource;
}

const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;
/** Disk and consensus latencies: 0.5 ms .. 8 s (etcd uses 1 ms .. 8 s for its WAL fsync). */
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4, 8,
];

export class Metrics {
  readonly registry = new Registry();
  readonly member: MemberMetrics;
  /** Counts and times every call on the client gRPC server: `new grpc.Server({ interceptors: [it] })`. */
  readonly grpcInterceptor: ServerInterceptor;
  private observed = false;

  constructor(opts: { processMetrics?: boolean } = {}) {
    // Standard process_* and nodejs_* names, unprefixed, so stock Node.js dashboards work.
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const leaderChanges = new Counter({
      name: 'arbor_raft_leader_changes_total',
      help: 'Leader changes seen by this member',
      registers,
    });
    const committed = new Counter({
      name: 'arbor_proposals_committed_total',
      help: 'Proposals committed and applied',
      registers,
    });
    const failed = new Counter({
      name: 'arbor_proposals_failed_total',
      help: 'Proposals that failed before commit, by reason',
      labelNames: ['reason'],
      registers,
    });
    const outOfOrder = new Counter({
      name: 'arbor_writes_out_of_order_total',
      help: 'Writes refused (ABORTED, not applied) because an earlier write of the same client had not applied',
      registers,
    });
    const commitLatency = new Histogram({
      name: 'arbor_commit_latency_seconds',
      help: 'Proposal to commit, on the leader',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const applyLatency = new Histogram({
      name: 'arbor_apply_latency_seconds',
      help: 'Applying one batch of committed entries, durably',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const fsyncLatency = new Histogram({
      name: 'arbor_fsync_latency_seconds',
      help: 'One synced storage batch',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const snapshots = new Counter({
      name: 'arbor_snapshots_total',
      help: 'Snapshots created (compaction), sent to followers, or installed from the leader',
      labelNames: ['kind'],
      registers,
    });
    this.member = {
      leaderChanged: () => leaderChanges.inc(),
      proposalCommitted: () => committed.inc(),
      proposalFailed: (reason) => failed.inc({ reason }),
      writeOutOfOrder: () => outOfOrder.inc(),
      commitLatency: (s) => commitLatency.observe(s),
      applyLatency: (s) => applyLatency.observe(s),
      fsyncLatency: (s) => fsyncLatency.observe(s),
      snapshot: (kind) => snapshots.inc({ kind }),
    };
    this.grpcInterceptor = grpcInterceptor(this.registry);
  }

  /** Registers the gauges read at scrape time. Call once, after the member is constructed. */
  observe(src: MetricsSources): void {
    if (this.observed) throw new Error('Metrics.observe called twice');
    this.observed = true;
    const registers = [this.registry];
    const { member, store } = src;
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('arbor_raft_term', 'Current Raft term', () => member.status().term);
    new Gauge({
      name: 'arbor_raft_role',
      help: '1 for the role this member has, 0 for the others',
      labelNames: ['role'],
      registers,
      collect() {
        const r = member.status().role;
        for (const role of ROLES) this.set({ role }, role === r ? 1 : 0);
      },
    });
    gauge('arbor_raft_leader_id', 'The leader this member knows (0: none)', () => member.status().leader);
    gauge('arbor_raft_has_leader', '1 when this member knows a leader', () =>
      member.status().leader !== 0 ? 1 : 0,
    );
    gauge('arbor_raft_commit_index', 'Raft commit index known to this member', () => member.status().commit);
    gauge('arbor_raft_applied_index', 'Last applied log index (the revision)', () => member.status().applied);
    gauge(
      'arbor_raft_voters',
      'Voting members in the configuration',
      () => member.status().conf.voters.length,
    );
    gauge('arbor_raft_learners', 'Learners in the configuration', () => member.status().conf.learners.length);
    gauge('arbor_watches_active', 'Open watches on this member', () => member.watches.count);
    gauge('arbor_sessions', 'Live client sessions', () => member.tree.sessions().length);
    gauge('arbor_znodes', 'Number of znodes, the root included', () => member.tree.size());
    if (store) {
      gauge(
        'arbor_log_entries',
        'Raft log entries on disk (since the last compaction)',
        () => store.stats().logRecords,
      );
      gauge(
        'arbor_log_start_index',
        'First log index kept on disk (compacted below)',
        () => store.stats().logStartIndex,
      );
      gauge(
        'arbor_db_size_bytes',
        "LevelDB's estimate of the bytes the data uses on disk (data size)",
        () => store.stats().approxBytes,
      );
      gauge(
        'arbor_storage_last_sync_seconds',
        'Duration of the most recent synced storage batch',
        () => store.stats().lastSyncMs / 1000,
      );
      let seen = 0;
      new Counter({
        name: 'arbor_storage_synced_batches_total',
        help: 'Synced storage batches (one fsync each) since the member started',
        registers,
        collect() {
          const now = store.stats().syncedBatches;
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * Counts every call by method and final status code, times unary calls, and tracks streams in
 * flight (watches and session streams live as long as the client keeps them).
 */
function grpcInterceptor(registry: Registry): ServerInterceptor {
  const registers = [registry];
  const requests = new Counter({
    name: 'arbor_grpc_requests_total',
    help: 'Client gRPC calls finished, by method and status code',
    labelNames: ['method', 'code'],
    registers,
  });
  const latency = new Histogram({
    name: 'arbor_grpc_request_duration_seconds',
    help: 'Unary client gRPC call duration, by method and status code',
    labelNames: ['method', 'code'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const inflight = new Gauge({
    name: 'arbor_grpc_requests_in_flight',
    help: 'Client gRPC calls (and open streams) in progress, by method',
    labelNames: ['method'],
    registers,
  });
  return (descriptor, call) => {
    // "/arbor.v1.Arbor/Get" -> "arbor.v1.Arbor/Get"
    const method = descriptor.path.replace(/^\//, '');
    const unary = !descriptor.requestStream && !descriptor.responseStream;
    const started = process.hrtime.bigint();
    let done = false;
    const finish = (code: GrpcStatus): void => {
      if (done) return;
      done = true;
      const label = { method, code: GrpcStatus[code] ?? String(code) };
      requests.inc(label);
      if (unary) latency.observe(label, Number(process.hrtime.bigint() - started) / 1e9);
      inflight.dec({ method });
    };
    inflight.inc({ method });
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder()
        .withStart((next) =>
          next({
            onCancel: () => finish(GrpcStatus.CANCELLED),
          }),
        )
        .withSendStatus((st, next) => {
          finish(st.code ?? GrpcStatus.UNKNOWN);
          next(st);
        })
        .build(),
    );
  };
}
