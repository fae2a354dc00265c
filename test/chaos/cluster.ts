/**
 * Real `arbor server` processes, one per network namespace of a chaos Net. A slot is a namespace
 * (an address); the member id living in it changes when the member is wiped and rejoins.
 * Every member gets a small delaying TCP proxy in its namespace: nftables redirects inbound peer
 * traffic through it, so "slow link" is a delay we set at run time without touching src/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  CLIENT_PORT,
  HTTP_PORT,
  namespacePids,
  PEER_PORT,
  PROXY_PORT,
  skewedCommand,
  type Net,
} from './net.js';
import { arborStub, call, clusterStub, SERVER_JS, sleep, type Msg, type Stub } from './rpc.js';

const PROXY_JS = `
const net = require('net');
let delay = 0, buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
    const m = /^delay (\\d+)/.exec(buf.slice(0, i));
    if (m) delay = Number(m[1]);
    buf = buf.slice(i + 1);
  }
});
process.stdin.on('end', () => process.exit(0));
function pipe(from, to) {
  let due = 0;
  from.on('data', (c) => {
    const now = Date.now();
    if (delay === 0 && due <= now) { to.write(c); return; }
    due = Math.max(now + delay, due);
    setTimeout(() => { if (!to.destroyed) to.write(c); }, due - now);
  });
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, due - Date.now()) + 1));
  from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, due - Date.now()) + 2));
  from.on('error', () => {});
}
net.createServer((s) => {
  const t = net.connect(${PEER_PORT}, process.env.TARGET);
  pipe(s, t); pipe(t, s);
}).listen(${PROXY_PORT}, '0.0.0.0');
`;

export interface Slot {
  readonly slot: number;
  readonly addr: string;
  /** The member id currently living in this namespace; 0 while removed. */
  id: number;
  proc: ChildProcess | undefined;
  proxy: ChildProcess | undefined;
  paused: boolean;
  /** faketime spec the member runs under ('' for the true clock). */
  skew: string;
  /**
   * The member joined a running cluster (--join). Restarts keep the flag: a joiner killed before
   * it persisted anything would otherwise bootstrap a cluster of its own from --initial-cluster,
   * with founding entries that differ from the real ones at the same indices.
   */
  joined: boolean;
  output: string[];
  arbor: Stub;
  cluster: Stub;
}

export interface ChaosClusterOptions {
  readonly size: number;
  readonly dir: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEntries?: number;
}

export class ChaosCluster {
  readonly slots: Slot[] = [];
  private nextId: number;
  private readonly stubs: Stub[] = [];

  constructor(
    readonly net: Net,
    readonly opts: ChaosClusterOptions,
  ) {
    for (let s = 1; s <= opts.size; s++) {
      const addr = net.addr(s);
      const arbor = arborStub(`${addr}:${CLIENT_PORT}`);
      const cluster = clusterStub(`${addr}:${CLIENT_PORT}`);
      this.stubs.push(arbor, cluster);
      this.slots.push({
        slot: s,
        addr,
        id: s,
        proc: undefined,
        proxy: undefined,
        paused: false,
        skew: '',
        joined: false,
        output: [],
        arbor,
        cluster,
      });
    }
    this.nextId = opts.size + 1;
  }

  /** The members as --initial-cluster (peer|client addresses), excluding `except`. */
  membership(except = 0): string {
    return this.slots
      .filter((s) => s.id !== 0 && s.id !== except)
      .map((s) => `${s.id}=${s.addr}:${PEER_PORT}|${s.addr}:${CLIENT_PORT}`)
      .join(',');
  }

  async start(): Promise<void> {
    const founders = this.membership();
    for (const s of this.slots) {
      this.startProxy(s);
      this.spawn(s, founders, false);
    }
    await this.waitForLeader(30_000);
  }

  slot(n: number): Slot {
    const s = this.slots[n - 1];
    if (!s) throw new Error(`no slot ${n}`);
    return s;
  }

  dataDir(s: Slot): string {
    return path.join(this.opts.dir, `slot${s.slot}-id${s.id}`);
  }

  private startProxy(s: Slot): void {
    const p = spawn('ip', ['netns', 'exec', this.net.ns(s.slot), process.execPath, '-e', PROXY_JS], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, TARGET: s.addr },
    });
    p.stderr.on('data', (b: Buffer) => s.output.push(`[proxy] ${b.toString().trim()}`));
    p.stdin.on('error', () => {});
    s.proxy = p;
  }

  setDelay(slotNo: number, ms: number): void {
    this.slot(slotNo).proxy?.stdin?.write(`delay ${ms}\n`);
  }

  private spawn(s: Slot, initialCluster: string, join: boolean): void {
    mkdirSync(this.opts.dir, { recursive: true });
    const args = [
      SERVER_JS,
      '--id',
      String(s.id),
      '--client-addr',
      `${s.addr}:${CLIENT_PORT}`,
      '--peer-addr',
      `${s.addr}:${PEER_PORT}`,
      '--http-addr',
      `${s.addr}:${HTTP_PORT}`,
      '--initial-cluster',
      initialCluster,
      ...(join ? ['--join'] : []),
      '--data-dir',
      this.dataDir(s),
      '--tick-ms',
      String(this.opts.tickMs ?? 25),
      '--election-ticks',
      String(this.opts.electionTicks ?? 10),
      '--snapshot-entries',
      String(this.opts.snapshotEntries ?? 2000),
      '--log-level',
      'warn',
    ];
    const server = [process.execPath, ...args];
    const cmd = [
      'netns',
      'exec',
      this.net.ns(s.slot),
      ...(s.skew !== '' ? skewedCommand(s.skew, server) : server),
    ];
    const proc = spawn('ip', cmd, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      for (const l of b.toString().split('\n')) if (l !== '') s.output.push(`[id ${s.id}] ${l}`);
      if (s.output.length > 300) s.output.splice(0, s.output.length - 300);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.once('exit', (code, sig) => {
      if (s.proc === proc) s.proc = undefined;
      s.output.push(`[id ${s.id}] exited code=${code} signal=${sig}`);
    });
    s.proc = proc;
    s.paused = false;
  }

  live(): Slot[] {
    return this.slots.filter((s) => s.proc !== undefined && s.id !== 0);
  }

  async kill(n: number): Promise<void> {
    const s = this.slot(n);
    const p = s.proc;
    if (!p) return;
    const exited = new Promise((r) => p.once('exit', r));
    // `ip netns exec` (and `env`, for a skewed clock) exec the command: this pid is the server.
    p.kill('SIGKILL');
    await exited;
    s.proc = undefined;
    s.paused = false;
    // Nothing but the delay proxy may outlive it in the namespace: a stray server would keep the
    // member's address, ports and data directory, and its old identity (chaos finding 1).
    const strays = namespacePids(this.net.ns(n)).filter((pid) => pid !== s.proxy?.pid);
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (strays.length > 0) {
      s.output.push(`[harness] killed stray processes ${strays.join(', ')} in slot ${n}`);
      while (namespacePids(this.net.ns(n)).some((pid) => strays.includes(pid))) await sleep(10);
    }
  }

  restart(n: number, skew = ''): void {
    const s = this.slot(n);
    if (s.proc || s.id === 0) return;
    s.skew = skew;
    // A joiner restarts with the flags it first started with: --join and the OTHER members (the
    // server refuses --join with an --initial-cluster that lists its own id).
    this.spawn(s, s.joined ? this.membership(s.id) : this.membership(), s.joined);
  }

  pause(n: number): void {
    const s = this.slot(n);
    if (s.proc && !s.paused) {
      s.proc.kill('SIGSTOP');
      s.paused = true;
    }
  }

  resume(n: number): void {
    const s = this.slot(n);
    if (s.proc && s.paused) {
      s.proc.kill('SIGCONT');
      s.paused = false;
    }
  }

  async status(n: number, timeoutMs = 1000): Promise<Msg> {
    return call(this.slot(n).cluster, 'Status', {}, timeoutMs);
  }

  /** The slot of the leader that a majority of the members report, or undefined. */
  async leader(): Promise<number | undefined> {
    const members = this.slots.filter((s) => s.id !== 0);
    const live = this.live().filter((s) => !s.paused);
    const answers = await Promise.all(live.map((s) => this.status(s.slot).catch(() => undefined)));
    const votes = new Map<number, number>();
    for (const a of answers) if (a) votes.set(Number(a.leader_id), (votes.get(Number(a.leader_id)) ?? 0) + 1);
    for (const [id, n] of votes) {
      if (id === 0 || n <= members.length / 2) continue;
      return this.slots.find((s) => s.id === id)?.slot;
    }
    return undefined;
  }

  async waitForLeader(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l !== undefined) return l;
      if (Date.now() > deadline) throw new Error(`no agreed leader after ${timeoutMs} ms\n${this.logs()}`);
      await sleep(100);
    }
  }

  /**
   * Wipes the member in slot `n` and brings it back as a new member id: RemoveMember, kill,
   * delete its data, AddMember(new id, same addresses) on the leader, start it with --join.
   */
  async wipeAndRejoin(n: number, onLeader: (method: string, req: Msg) => Promise<Msg>): Promise<string> {
    const s = this.slot(n);
    const old = s.id;
    await onLeader('RemoveMember', { id: old });
    await this.kill(n);
    rmSync(this.dataDir(s), { recursive: true, force: true });
    s.id = 0;
    const id = this.nextId++;
    const peers = this.membership();
    await onLeader('AddMember', {
      id,
      name: `m${id}`,
      peer_url: `${s.addr}:${PEER_PORT}`,
      client_url: `${s.addr}:${CLIENT_PORT}`,
      as_learner: false,
    });
    s.id = id;
    s.skew = '';
    s.joined = true;
    this.spawn(s, peers, true);
    return `slot ${n}: member ${old} removed and wiped, rejoined as ${id}`;
  }

  logs(lines = 25): string {
    return this.slots
      .map((s) => `--- slot ${s.slot} (id ${s.id})\n${s.output.slice(-lines).join('\n')}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    for (const s of this.slots) {
      this.resume(s.slot);
      await this.kill(s.slot);
      s.proxy?.kill('SIGKILL');
    }
    for (const st of this.stubs) st.close();
  }
}
