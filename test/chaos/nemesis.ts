/**
 * The faults. Each nemesis step picks one fault from the mix, applies it, holds it for a while and
 * heals it; leadership transfers are also fired in the middle of other faults. Everything done is
 * logged with its time so an anomaly can be lined up against the faults around it.
 */
import type { Rng } from '../../src/util/rng.js';
import type { ChaosCluster } from './cluster.js';
import { call, code, sleep, type Msg } from './rpc.js';

export const FAULTS = [
  'partition-halves',
  'partition-leader',
  'partition-oneway',
  'partition-bridge',
  'kill',
  'pause',
  'lossy',
  'slow',
  'skew',
  'wipe',
  'transfer',
] as const;
export type Fault = (typeof FAULTS)[number];

export const MIXES: Readonly<Record<string, readonly Fault[]>> = {
  partitions: ['partition-halves', 'partition-leader', 'partition-oneway', 'partition-bridge'],
  crashes: ['kill', 'pause', 'transfer'],
  network: ['lossy', 'slow', 'skew'],
  membership: ['wipe', 'transfer', 'partition-leader', 'kill'],
  all: FAULTS,
};

export function parseNemesis(spec: string): Fault[] {
  const out = new Set<Fault>();
  for (const part of spec.split(',').map((s) => s.trim())) {
    const mix = MIXES[part];
    if (mix) mix.forEach((f) => out.add(f));
    else if ((FAULTS as readonly string[]).includes(part)) out.add(part as Fault);
    else throw new Error(`unknown nemesis '${part}': use ${[...Object.keys(MIXES), ...FAULTS].join(', ')}`);
  }
  return [...out];
}

export interface NemesisEvent {
  readonly at: number;
  readonly what: string;
}

export class Nemesis {
  readonly log: NemesisEvent[] = [];
  private stopped = false;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly rng: Rng,
    private readonly faults: readonly Fault[],
    private readonly now: () => number,
  ) {}

  private note(what: string): void {
    this.log.push({ at: Math.round(this.now()), what });
  }

  stop(): void {
    this.stopped = true;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)] as T;
  }

  private shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [a[i], a[j]] = [a[j] as T, a[i] as T];
    }
    return a;
  }

  private slots(): number[] {
    return this.cluster.slots.map((s) => s.slot);
  }

  /** Blocks traffic between every pair (a, b) with a in `x`, b in `y` (both directions). */
  private cut(x: readonly number[], y: readonly number[]): void {
    const blocked = new Map<number, Set<number>>();
    const add = (to: number, from: number): void => {
      const s = blocked.get(to) ?? new Set<number>();
      s.add(from);
      blocked.set(to, s);
    };
    for (const a of x)
      for (const b of y) {
        add(a, b);
        add(b, a);
      }
    for (const [to, from] of blocked) this.cluster.net.setFilter(to, [...from]);
  }

  private async onLeader(method: string, req: Msg): Promise<Msg> {
    for (let i = 0; ; i++) {
      const l = await this.cluster.waitForLeader(30_000);
      try {
        return await call(this.cluster.slot(l).cluster, method, req, 10_000);
      } catch (e) {
        if ((method === 'RemoveMember' && code(e) === 5) || (method === 'AddMember' && code(e) === 6))
          return {};
        if (i > 10) throw e;
        await sleep(500);
      }
    }
  }

  private async transfer(): Promise<void> {
    const l = await this.cluster.leader();
    if (l === undefined) return;
    const target = this.pick(this.cluster.slots.filter((s) => s.slot !== l && s.id !== 0));
    this.note(`transfer leadership from slot ${l} to slot ${target.slot} (id ${target.id})`);
    try {
      await call(this.cluster.slot(l).cluster, 'TransferLeader', { target_id: target.id }, 5000);
    } catch (e) {
      this.note(`transfer failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  /** Applies one fault and returns how to heal it. */
  private async apply(f: Fault): Promise<() => Promise<void> | void> {
    const c = this.cluster;
    const net = c.net;
    const all = this.slots();
    const leader = (await c.leader()) ?? this.pick(all);
    const victim = this.rng.int(2) === 0 ? leader : this.pick(all);
    const healNet = (): void => {
      net.healAll();
      this.note('heal network');
    };
    switch (f) {
      case 'partition-halves': {
        const s = this.shuffle(all);
        const half = s.splice(0, Math.floor(all.length / 2));
        this.cut(half, s);
        this.note(`partition ${JSON.stringify(half)} | ${JSON.stringify(s)}`);
        return healNet;
      }
      case 'partition-leader': {
        this.cut(
          [leader],
          all.filter((x) => x !== leader),
        );
        this.note(`isolate leader slot ${leader}`);
        return healNet;
      }
      case 'partition-oneway': {
        const to = this.pick(all.filter((x) => x !== victim));
        net.setFilter(to, [victim]);
        this.note(`one-way: slot ${to} drops everything from slot ${victim}`);
        return healNet;
      }
      case 'partition-bridge': {
        const s = this.shuffle(all);
        const k = Math.floor(s.length / 2);
        const bridge = s[k] as number;
        const left = s.slice(0, k);
        const right = s.slice(k + 1);
        this.cut(left, right);
        this.note(`bridge: ${JSON.stringify(left)} | ${JSON.stringify(right)}, slot ${bridge} sees both`);
        return healNet;
      }
      case 'kill': {
        await c.kill(victim);
        this.note(`SIGKILL slot ${victim}`);
        return () => {
          c.restart(victim);
          this.note(`restart slot ${victim}`);
        };
      }
      case 'pause': {
        c.pause(victim);
        this.note(`SIGSTOP slot ${victim}`);
        return () => {
          c.resume(victim);
          this.note(`SIGCONT slot ${victim}`);
        };
      }
      case 'lossy': {
        const pct = 10 + this.rng.int(30);
        for (const s of all)
          net.setFilter(
            s,
            [],
            all.filter((x) => x !== s),
            pct,
          );
        this.note(`lossy links: ${pct}% of packets between members dropped`);
        return healNet;
      }
      case 'slow': {
        const ms = 30 + this.rng.int(120);
        const which = this.shuffle(all).slice(0, 1 + this.rng.int(all.length - 1));
        for (const s of which) c.setDelay(s, ms);
        this.note(`slow links: inbound peer traffic of slots ${JSON.stringify(which)} delayed ${ms} ms`);
        return () => {
          for (const s of which) c.setDelay(s, 0);
          this.note('slow links healed');
        };
      }
      case 'skew': {
        const spec = this.pick(['+30s', '-30s', '+10m', '-1h']);
        await c.kill(victim);
        c.restart(victim, spec);
        this.note(`clock skew: slot ${victim} restarted under faketime ${spec}`);
        return async () => {
          await c.kill(victim);
          c.restart(victim);
          this.note(`clock skew healed: slot ${victim} restarted on the true clock`);
        };
      }
      case 'wipe': {
        const what = await c.wipeAndRejoin(victim, (m, r) => this.onLeader(m, r));
        this.note(what);
        return () => {};
      }
      case 'transfer': {
        await this.transfer();
        return () => {};
      }
    }
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      await sleep(1000 + this.rng.int(1500));
      if (this.stopped) break;
      const f = this.pick(this.faults);
      let heal: () => Promise<void> | void;
      try {
        heal = await this.apply(f);
      } catch (e) {
        this.note(`${f} could not be applied: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      const hold = f === 'pause' ? 800 + this.rng.int(2000) : 2000 + this.rng.int(3000);
      const deadline = Date.now() + hold;
      while (Date.now() < deadline && !this.stopped) {
        await sleep(Math.min(500, deadline - Date.now()));
        if (this.faults.includes('transfer') && this.rng.int(6) === 0) await this.transfer();
      }
      await heal();
    }
  }

  /** Undoes everything: network healed, delays off, paused members resumed, dead ones restarted on the true clock. */
  async healAll(): Promise<void> {
    const c = this.cluster;
    c.net.healAll();
    for (const s of c.slots) {
      c.setDelay(s.slot, 0);
      c.resume(s.slot);
      if (s.skew !== '') await c.kill(s.slot);
      if (!s.proc) c.restart(s.slot);
    }
    this.note('heal all');
  }
}
