/**
 * A private network for one chaos run: every member in its own network namespace with its own
 * address in 198.18.S.0/24 (RFC 2544 benchmarking space), veth-linked to a bridge that lives in a
 * namespace of its own. The test process reaches the members through one more veth from the root
 * namespace into the bridge (address 198.18.S.254/24), so its traffic never takes the default
 * route. Faults are nftables rules inside the member namespaces; everything is created with
 * unique names (`arb<pid>x<run>-…`) and removed on teardown, on failure and on SIGINT/SIGTERM.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const CLIENT_PORT = 4181;
export const PEER_PORT = 4191;
export const HTTP_PORT = 4201;
/** Inside each member namespace, peer traffic is redirected to a delaying proxy on this port. */
export const PROXY_PORT = 4193;

function run(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input !== undefined ? { input } : {}),
  });
}

function tryRun(cmd: string, args: readonly string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore' });
}

/**
 * Clock skew without the `faketime` wrapper: that binary forks the program and waits for it, so a
 * SIGKILL or SIGSTOP sent to the pid we spawned reached only the wrapper, and the server went on
 * running (under the skewed clock, holding its ports and data directory) while the harness
 * believed it dead. Preloading libfaketime through `env` (which execs) keeps the pid the
 * server's own. `$LIB` is expanded by the dynamic loader, as in the wrapper.
 */
export const LIBFAKETIME = '/usr/$LIB/faketime/libfaketime.so.1';

/** `env` arguments that run `cmd...` with its clock moved by `spec` (faketime syntax, e.g. '+30s'). */
export function skewedCommand(spec: string, cmd: readonly string[]): string[] {
  return ['env', `LD_PRELOAD=${LIBFAKETIME}`, `FAKETIME=${spec}`, ...cmd];
}

/** Throws a message that says what is missing: chaos tests never skip silently. */
export function preflight(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (network namespaces, nftables)');
  for (const [cmd, args] of [
    ['ip', ['netns', 'list']],
    ['nft', ['--version']],
  ] as const) {
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.error || r.status !== 0)
      problems.push(`'${cmd} ${args.join(' ')}' does not work (${r.error?.message ?? `exit ${r.status}`})`);
  }
  // The preload must really move the clock (a missing library is only a loader warning).
  const [envCmd, ...envArgs] = skewedCommand('+1h', ['date', '+%s']);
  const skewed = spawnSync(envCmd as string, envArgs, { encoding: 'utf8' });
  if (Math.abs(Number(skewed.stdout) - Date.now() / 1000 - 3600) > 60)
    problems.push(
      `preloading ${LIBFAKETIME} with FAKETIME=+1h does not move the clock (install faketime/libfaketime)`,
    );
  if (problems.length > 0)
    throw new Error(
      `chaos tests cannot run: ${problems.join('; ')}. They need root, iproute2 (ip netns), nftables and faketime — CI runs them as root.`,
    );
}

const live = new Set<Net>();
let hooked = false;

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = (): void => {
    for (const n of [...live]) n.destroy();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Removes namespaces left by chaos runs whose process is gone (a SIGKILLed earlier run). */
export function reapOrphans(): void {
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const m = /^(arb(\d+)x\d+-\S+)/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) killAndDelete(m[1] as string);
  }
}

/** The pids of every process in namespace `ns`. */
export function namespacePids(ns: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split(/\s+/)
    .filter((x) => x !== '')
    .map(Number);
}

function killAndDelete(ns: string): void {
  for (const p of namespacePids(ns)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  tryRun('ip', ['netns', 'del', ns]);
}

let runCounter = 0;

export class Net {
  readonly tag: string;
  readonly subnet: number;
  readonly bridgeNs: string;
  readonly hostAddr: string;
  private readonly slots: number[] = [];
  private destroyed = false;

  private constructor(tag: string, subnet: number) {
    this.tag = tag;
    this.subnet = subnet;
    this.bridgeNs = `${tag}-br`;
    this.hostAddr = `198.18.${subnet}.254`;
  }

  /** Builds the bridge and `slots` member namespaces (slot i has address 198.18.S.(10+i)). */
  static create(slots: number): Net {
    preflight();
    reapOrphans();
    hookSignals();
    const tag = `arb${process.pid}x${runCounter++}`;
    const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
    let subnet = 0;
    for (let i = 0; i < 254; i++) {
      const s = ((process.pid + runCounter * 37 + i) % 250) + 2;
      if (!routes.includes(`198.18.${s}.`)) {
        subnet = s;
        break;
      }
    }
    if (subnet === 0) throw new Error('no free 198.18.S.0/24 subnet for the chaos network');
    const net = new Net(tag, subnet);
    live.add(net);
    try {
      net.build(slots);
    } catch (e) {
      net.destroy();
      throw e;
    }
    return net;
  }

  ns(slot: number): string {
    return `${this.tag}-m${slot}`;
  }

  addr(slot: number): string {
    return `198.18.${this.subnet}.${10 + slot}`;
  }

  private short(kind: string, slot: number): string {
    // Interface names have at most 15 characters.
    return `a${process.pid % 100000}${runCounter % 10}${kind}${slot}`.slice(0, 15);
  }

  private build(slots: number): void {
    const br = this.bridgeNs;
    run('ip', ['netns', 'add', br]);
    const inBr = (...a: string[]): string => run('ip', ['-n', br, ...a]);
    inBr('link', 'add', 'br0', 'type', 'bridge');
    inBr('link', 'set', 'br0', 'up');
    inBr('link', 'set', 'lo', 'up');
    // The root namespace's own leg into the bridge.
    const hostEnd = this.short('h', 0);
    const hostPeer = this.short('j', 0);
    run('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', hostPeer, 'netns', br]);
    run('ip', ['addr', 'add', `${this.hostAddr}/24`, 'dev', hostEnd]);
    run('ip', ['link', 'set', hostEnd, 'up']);
    inBr('link', 'set', hostPeer, 'master', 'br0');
    inBr('link', 'set', hostPeer, 'up');
    for (let s = 1; s <= slots; s++) this.addSlot(s);
  }

  private addSlot(s: number): void {
    const ns = this.ns(s);
    run('ip', ['netns', 'add', ns]);
    const a = this.short('v', s);
    const b = this.short('b', s);
    run('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', b, 'netns', this.bridgeNs]);
    run('ip', ['-n', this.bridgeNs, 'link', 'set', b, 'master', 'br0']);
    run('ip', ['-n', this.bridgeNs, 'link', 'set', b, 'up']);
    void a;
    run('ip', ['-n', ns, 'addr', 'add', `${this.addr(s)}/24`, 'dev', 'eth0']);
    run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Filter table for faults, and the redirect of inbound peer traffic through the slow-link proxy.
    this.nft(
      s,
      [
        'table inet chaos {',
        '  chain input { type filter hook input priority 0; policy accept; }',
        '}',
        'table ip chaosnat {',
        '  chain pre { type nat hook prerouting priority -100; policy accept;',
        `    tcp dport ${PEER_PORT} redirect to :${PROXY_PORT}`,
        '  }',
        '}',
      ].join('\n'),
    );
    this.slots.push(s);
  }

  nft(slot: number, script: string): void {
    run('ip', ['netns', 'exec', this.ns(slot), 'nft', '-f', '-'], script + '\n');
  }

  /**
   * Sets the inbound filter of `slot`: packets from `blocked` slots are dropped, packets from
   * `lossy` slots are dropped with probability `lossPct`%. Client traffic (the host) is untouched.
   */
  setFilter(slot: number, blocked: readonly number[], lossy: readonly number[] = [], lossPct = 0): void {
    const lines = ['flush chain inet chaos input'];
    if (blocked.length > 0)
      lines.push(
        `add rule inet chaos input ip saddr { ${blocked.map((b) => this.addr(b)).join(', ')} } drop`,
      );
    if (lossy.length > 0 && lossPct > 0)
      lines.push(
        `add rule inet chaos input ip saddr { ${lossy.map((b) => this.addr(b)).join(', ')} } numgen random mod 100 < ${lossPct} drop`,
      );
    this.nft(slot, lines.join('\n'));
  }

  healAll(): void {
    for (const s of this.slots) this.setFilter(s, []);
  }

  /** Everything this run created, idempotent; synchronous so it also works in an exit handler. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const s of this.slots) killAndDelete(this.ns(s));
    killAndDelete(this.bridgeNs);
    tryRun('ip', ['link', 'del', this.short('h', 0)]);
  }

  /** Namespaces of this run that still exist (teardown leaves none). */
  leftovers(): string[] {
    return run('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`${this.tag}-`));
  }
}
