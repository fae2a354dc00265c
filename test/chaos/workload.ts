/**
 * Concurrent clients over all members, recording a history for the checkers: linearizable reads,
 * blind writes and compare-and-set on versioned registers (/c/kN), Multi across two registers,
 * sequential creates, ephemeral nodes under sessions, and one watch stream per member.
 *
 * Outcomes are exact: every call has an explicit deadline. A write carries the exactly-once header
 * {client_id, sequence}; when its outcome is unknown it is retried with the same header on other
 * members (still one operation: one call time, one return time), so a duplicate apply would show
 * as a version that moved twice. A logical client whose last write stayed unknown is retired and
 * replaced by a fresh client id (Jepsen's "process crashed" rule), which keeps per-client order
 * meaningful.
 */
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import type { Rng } from '../../src/util/rng.js';
import type { ChaosCluster, Slot } from './cluster.js';
import type { Outcome, RegisterOp, SequentialCreate, WatchLog, WatchedEvent } from './checker/history.js';
import { arborError, call, code, sleep, type GrpcError, type Msg } from './rpc.js';

export const INITIAL_DATA = 'init';
export const keyPath = (key: string): string => `/c/${key}`;

const OK_FAILURES = new Set([3, 5, 6, 9]); // INVALID_ARGUMENT NOT_FOUND ALREADY_EXISTS FAILED_PRECONDITION
const NOT_APPLIED = new Set([10, 14]); // ABORTED UNAVAILABLE

export interface SessionRecord {
  readonly id: string;
  readonly ephemerals: string[];
  ended: 'closed' | 'abandoned' | 'open';
}

export interface WorkloadOptions {
  readonly rng: Rng;
  readonly tag: string;
  readonly keys: number;
  readonly workers: number;
  readonly sessionWorkers: number;
  readonly seqParents: number;
  readonly opTimeoutMs: number;
  /**
   * Harness self-test only: serve the workload's reads SERIALIZABLE (from the member's local
   * state), which a partition makes stale — the checker must then report anomalies.
   */
  readonly staleReads?: boolean;
}

type Attempt =
  | { readonly type: 'ok'; readonly resp: Msg; readonly slot: number }
  | { readonly type: 'refused'; readonly err: GrpcError; readonly slot: number }
  | { readonly type: 'fail'; readonly err: GrpcError; readonly slot: number }
  | { readonly type: 'info'; readonly err: GrpcError; readonly slot: number };

export class Workload {
  readonly history: RegisterOp[] = [];
  readonly creates: SequentialCreate[] = [];
  readonly sessions: SessionRecord[] = [];
  readonly watchLogs: WatchLog[] = [];
  private readonly t0 = performance.now();
  private nextId = 0;
  private stopped = false;
  private readonly watchCalls: grpc.ClientReadableStream<Msg>[] = [];
  watchBase = 0;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly opts: WorkloadOptions,
  ) {}

  now(): number {
    return performance.now() - this.t0;
  }

  keyNames(): string[] {
    return Array.from({ length: this.opts.keys }, (_, i) => `k${i}`);
  }

  /** Creates the registers and parents (before any fault), and returns the revision reached. */
  async setup(): Promise<void> {
    const s = this.cluster.slot(1).arbor;
    const mk = async (p: string, data = ''): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          await call(s, 'Create', { path: p, data: Buffer.from(data) }, 5000);
          return;
        } catch (e) {
          if (code(e) === 6) return;
          if (i > 50) throw e;
          await sleep(200);
        }
      }
    };
    await mk('/c');
    await mk('/seq');
    await mk('/eph');
    for (let j = 0; j < this.opts.seqParents; j++) await mk(`/seq/p${j}`);
    // One Multi creates all registers at version 0.
    const ops = this.keyNames().map((k) => ({
      create: { path: keyPath(k), data: Buffer.from(INITIAL_DATA) },
    }));
    for (let i = 0; ; i++) {
      try {
        const r = await call(s, 'Multi', { ops }, 5000);
        void r;
        break;
      } catch (e) {
        if (code(e) === 6) break;
        if (i > 50) throw e;
        await sleep(200);
      }
    }
    const st = await call(s, 'Sync', { path: '/' }, 5000);
    this.watchBase = Number(st.revision) + 1;
  }

  stop(): void {
    this.stopped = true;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** All client loops; resolves once stop() was called and every loop finished its operation. */
  async run(): Promise<void> {
    for (const s of this.cluster.slots) this.watch(s);
    const loops: Promise<void>[] = [];
    for (let w = 0; w < this.opts.workers; w++) loops.push(this.worker(w));
    for (let w = 0; w < this.opts.sessionWorkers; w++) loops.push(this.sessionWorker(w));
    await Promise.all(loops);
  }

  cancelWatches(): void {
    for (const c of this.watchCalls) c.cancel();
  }

  // ---------------------------------------------------------------- registers

  private pickSlot(avoid = 0): Slot {
    const all = this.cluster.slots.filter((s) => s.slot !== avoid);
    return all[this.opts.rng.int(all.length)] as Slot;
  }

  /**
   * One logical write: the first attempt, then (only if its outcome is unknown) retries with the
   * same header on other members. The answer is the first definite one.
   */
  private async write(method: string, req: Msg, first: Slot): Promise<Attempt> {
    let slot = first;
    let unknown: Attempt | undefined;
    for (let attempt = 0; attempt < 3 && !(attempt > 0 && this.stopped); attempt++) {
      try {
        const resp = await call(slot.arbor, method, req, this.opts.opTimeoutMs);
        return { type: 'ok', resp, slot: slot.slot };
      } catch (e) {
        const err = e as GrpcError;
        const c = code(e);
        // Only a status the member itself sent (it carries arbor-error) is definite: grpc-js
        // makes up UNAVAILABLE ("Connection dropped") when a connection dies mid-call, and such
        // a write may well have been applied.
        const fromServer = arborError(e) !== '';
        if (fromServer && OK_FAILURES.has(c) && arborError(e) !== 'duplicateUnknown')
          return { type: 'refused', err, slot: slot.slot };
        if (fromServer && NOT_APPLIED.has(c)) {
          // This attempt did not apply; an earlier unknown one still might.
          if (unknown === undefined) return { type: 'fail', err, slot: slot.slot };
        } else unknown = { type: 'info', err, slot: slot.slot };
      }
      slot = this.pickSlot(slot.slot);
      await sleep(50);
    }
    return unknown ?? { type: 'info', err: new Error('stopped') as GrpcError, slot: slot.slot };
  }

  private record(op: Omit<RegisterOp, 'id'>): void {
    this.history.push({ id: this.nextId++, ...op });
  }

  private async worker(w: number): Promise<void> {
    const rng = this.opts.rng;
    let gen = 0;
    let clientId = `${this.opts.tag}-w${w}-${gen}`;
    let seq = 0;
    let home = this.cluster.slots[w % this.cluster.slots.length] as Slot;
    const seen = new Map<string, number>();
    const keys = this.keyNames();
    const header = (): Msg => {
      seq++;
      return { client_id: clientId, sequence: seq, first_unacked: seq };
    };
    while (!this.stopped) {
      const process = clientId;
      const key = keys[rng.int(keys.length)] as string;
      const roll = rng.int(100);
      const call0 = this.now();
      let outcome: Outcome = 'ok';
      if (roll < 35) {
        try {
          const r = await call(
            home.arbor,
            'Get',
            { path: keyPath(key), consistency: this.opts.staleReads === true ? 1 : 0 },
            this.opts.opTimeoutMs,
          );
          const version = Number(r.stat.version);
          seen.set(key, version);
          this.record({
            process,
            key,
            f: 'read',
            outcome: 'ok',
            call: call0,
            ret: this.now(),
            member: home.slot,
            result: { value: Buffer.from(r.data).toString(), version },
          });
        } catch (e) {
          outcome = code(e) === 5 ? 'ok' : 'fail';
          // A register that does not exist is an anomaly the model rejects (it never deletes).
          this.record({
            process,
            key,
            f: 'read',
            outcome,
            call: call0,
            ret: this.now(),
            member: home.slot,
            error: (e as Error).message,
            ...(outcome === 'ok' ? { result: { value: '<absent>', version: -1 } } : {}),
          });
        }
      } else if (roll < 80) {
        const cas = roll >= 60;
        const value = `${clientId}-${seq + 1}`;
        const expected = cas ? (seen.get(key) ?? rng.int(3)) : -1;
        const a = await this.write(
          'Set',
          { path: keyPath(key), data: Buffer.from(value), expected_version: expected, header: header() },
          home,
        );
        const ret = this.now();
        const base = {
          process,
          key,
          value,
          call: call0,
          member: a.slot,
          ...(cas ? { f: 'cas' as const, expected } : { f: 'write' as const }),
        };
        if (a.type === 'ok') {
          const version = Number(a.resp.stat.version);
          seen.set(key, version);
          this.record({ ...base, outcome: 'ok', ret, result: { version, applied: true } });
        } else if (a.type === 'refused' && cas && code(a.err) === 9 && arborError(a.err) === 'badVersion') {
          this.record({ ...base, outcome: 'ok', ret, result: { applied: false } });
        } else {
          outcome = a.type === 'info' ? 'info' : 'fail';
          this.record({ ...base, outcome, ret: outcome === 'info' ? Infinity : ret, error: a.err.message });
        }
      } else if (roll < 90) {
        outcome = await this.multi(process, keys, seen, header(), home, clientId);
      } else {
        const parent = `/seq/p${rng.int(this.opts.seqParents)}`;
        const a = await this.write('Create', { path: `${parent}/n-`, mode: 2, header: header() }, home);
        const ret = this.now();
        if (a.type === 'ok') {
          const name = String(a.resp.path).split('/').pop() as string;
          this.creates.push({ parent, outcome: 'ok', name, call: call0, ret });
        } else {
          outcome = a.type === 'info' ? 'info' : 'fail';
          this.creates.push({ parent, outcome, call: call0, ret: outcome === 'info' ? Infinity : ret });
        }
      }
      if (outcome === 'info') {
        gen++;
        clientId = `${this.opts.tag}-w${w}-${gen}`;
        seq = 0;
      }
      if (outcome !== 'ok') {
        home = this.pickSlot(home.slot);
        await sleep(20 + rng.int(80));
      }
    }
  }

  /** Multi [check k1 version, set k1, set k2]: a cas on k1 and a conditional write on k2. */
  private async multi(
    process: string,
    keys: string[],
    seen: Map<string, number>,
    header: Msg,
    home: Slot,
    clientId: string,
  ): Promise<Outcome> {
    const rng = this.opts.rng;
    const k1 = keys[rng.int(keys.length)] as string;
    let k2 = keys[rng.int(keys.length)] as string;
    if (k2 === k1) k2 = keys[(keys.indexOf(k1) + 1) % keys.length] as string;
    const expected = seen.get(k1) ?? rng.int(3);
    const v1 = `${clientId}-${header.sequence}-a`;
    const v2 = `${clientId}-${header.sequence}-b`;
    const call0 = this.now();
    const a = await this.write(
      'Multi',
      {
        ops: [
          { check: { path: keyPath(k1), expected_version: expected } },
          { set: { path: keyPath(k1), data: Buffer.from(v1), expected_version: -1 } },
          { set: { path: keyPath(k2), data: Buffer.from(v2), expected_version: -1 } },
        ],
        header,
      },
      home,
    );
    const ret = this.now();
    const cas = { process, key: k1, f: 'cas' as const, value: v1, expected, call: call0, member: a.slot };
    const wr = { process, key: k2, f: 'write' as const, value: v2, call: call0, member: a.slot };
    if (a.type === 'ok') {
      const results = a.resp.results as Msg[];
      const ver1 = Number(results[1]?.set?.stat?.version);
      const ver2 = Number(results[2]?.set?.stat?.version);
      seen.set(k1, ver1);
      seen.set(k2, ver2);
      this.record({ ...cas, outcome: 'ok', ret, result: { applied: true, version: ver1 } });
      this.record({ ...wr, outcome: 'ok', ret, result: { version: ver2 } });
      return 'ok';
    }
    const failedOp = String(a.err.metadata?.get('arbor-failed-op')?.[0] ?? '-1');
    if (a.type === 'refused' && code(a.err) === 9 && failedOp === '0') {
      this.record({ ...cas, outcome: 'ok', ret, result: { applied: false } });
      this.record({ ...wr, outcome: 'fail', ret, error: a.err.message });
      return 'ok';
    }
    const outcome: Outcome = a.type === 'info' ? 'info' : 'fail';
    const r = outcome === 'info' ? Infinity : ret;
    this.record({ ...cas, outcome, ret: r, error: a.err.message });
    this.record({ ...wr, outcome, ret: r, error: a.err.message });
    return outcome;
  }

  // ---------------------------------------------------------------- sessions

  private async sessionWorker(w: number): Promise<void> {
    const rng = this.opts.rng;
    while (!this.stopped) {
      const slot = this.pickSlot();
      let id: string;
      try {
        const r = await call(slot.arbor, 'OpenSession', { timeout_ms: 2000 }, this.opts.opTimeoutMs);
        id = String(r.session_id);
      } catch {
        await sleep(200);
        continue;
      }
      const rec: SessionRecord = { id, ephemerals: [], ended: 'open' };
      this.sessions.push(rec);
      const ka = (slot.arbor.KeepAlive as () => grpc.ClientDuplexStream<Msg, Msg>).call(slot.arbor);
      ka.on('error', () => {});
      ka.on('data', () => {});
      const beat = setInterval(() => ka.write({ session_id: id }), 400);
      try {
        ka.write({ session_id: id });
        const n = 1 + rng.int(3);
        for (let i = 0; i < n && !this.stopped; i++) {
          const p = `/eph/s${id}-w${w}-${i}`;
          try {
            await call(
              this.pickSlot().arbor,
              'Create',
              { path: p, mode: 1, session_id: id },
              this.opts.opTimeoutMs,
            );
            rec.ephemerals.push(p);
          } catch {
            /* expired, unavailable or unknown: the final check covers every outcome */
          }
          await sleep(200 + rng.int(500));
        }
        await sleep(500 + rng.int(2000));
      } finally {
        clearInterval(beat);
        ka.end();
        ka.cancel();
      }
      if (rng.int(2) === 0) {
        try {
          await call(this.pickSlot().arbor, 'CloseSession', { session_id: id }, this.opts.opTimeoutMs);
          rec.ended = 'closed';
        } catch {
          rec.ended = 'abandoned';
        }
      } else rec.ended = 'abandoned';
    }
  }

  // ---------------------------------------------------------------- watches

  private watch(slot: Slot): void {
    const log: WatchLog = { member: slot.slot, events: [], compactions: [], streams: [] };
    this.watchLogs.push(log);
    let last = 0;
    const open = (start: number): void => {
      if (this.stopped && log.events.length > 0 && this.watchesDone) return;
      const c = (slot.arbor.Watch as (r: Msg) => grpc.ClientReadableStream<Msg>).call(slot.arbor, {
        path: '/c',
        scope: 2,
        start_revision: start,
      });
      this.watchCalls.push(c);
      log.streams?.push({ index: log.events.length, startRevision: start });
      c.on('data', (r: Msg) => {
        for (const e of (r.events as Msg[] | undefined) ?? []) {
          const ev: WatchedEvent = {
            type: (['UNSPECIFIED', 'CREATED', 'UPDATED', 'DELETED'][Number(e.type)] ??
              'UNSPECIFIED') as WatchedEvent['type'],
            path: String(e.path),
            data: Buffer.from(e.data as Uint8Array).toString(),
            version: Number(e.stat?.version ?? -1),
            revision: Number(e.revision),
          };
          last = Math.max(last, ev.revision);
          log.events.push(ev);
        }
      });
      let reopened = false;
      const again = (err: GrpcError | undefined): void => {
        if (reopened || this.watchesDone) return;
        reopened = true;
        let next = last > 0 ? last + 1 : this.watchBase;
        if (err && err.code === 11) {
          const compact = Number(err.metadata?.get('arbor-compact-revision')?.[0] ?? 0);
          log.compactions.push(log.events.length);
          next = Math.max(compact, next);
        }
        setTimeout(() => open(next), 200);
      };
      c.on('error', (e: GrpcError) => again(e));
      c.on('end', () => again(undefined));
    };
    open(this.watchBase);
  }

  watchesDone = false;
}
