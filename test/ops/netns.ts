/**
 * A tiny private network for tests: one namespace holding a bridge, and one namespace per host
 * wired to it with a veth pair, addressed in 198.18.0.0/24 (RFC 2544 benchmark space, never
 * routed). Each host namespace gets /etc/netns/<ns>/hosts, which `ip netns exec` bind-mounts
 * over /etc/hosts, so service names resolve exactly as Docker's embedded DNS would resolve them.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PREFIX = 'arbops';

export interface NetHost {
  readonly name: string;
  readonly ns: string;
  readonly addr: string;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function namespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeNamespace(ns: string): void {
  // Processes left inside (a killed test run's members) would keep the namespace alive, unnamed.
  try {
    for (const pid of ip(['netns', 'pids', ns]).split('\n').filter(Boolean))
      process.kill(Number(pid), 'SIGKILL');
  } catch {
    // no such namespace, or the process is gone
  }
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // already gone
  }
  rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
}

/** Namespaces left by an earlier test process that was killed before its cleanup ran. */
export function removeStaleNamespaces(): void {
  for (const ns of namespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) removeNamespace(ns);
  }
}

export class TestNet {
  readonly hosts: NetHost[] = [];
  private readonly created: string[] = [];
  private readonly bridgeNs = `${PREFIX}${process.pid}-br`;

  /** Creates the bridge and one namespace per name; on any failure removes what it made. */
  static create(names: readonly string[]): TestNet {
    removeStaleNamespaces();
    const net = new TestNet();
    try {
      net.build(names);
    } catch (e) {
      net.destroy();
      throw e;
    }
    return net;
  }

  private build(names: readonly string[]): void {
    const br = this.bridgeNs;
    ip(['netns', 'add', br]);
    this.created.push(br);
    ip(['-n', br, 'link', 'set', 'lo', 'up']);
    ip(['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', br, 'link', 'set', 'br0', 'up']);
    names.forEach((name, i) => {
      const ns = `${PREFIX}${process.pid}-${name}`;
      const addr = `198.18.0.${i + 1}`;
      ip(['netns', 'add', ns]);
      this.created.push(ns);
      ip(['-n', br, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', br, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      this.hosts.push({ name, ns, addr });
    });
    const hostsFile = [
      '127.0.0.1 localhost',
      '::1 localhost',
      ...this.hosts.map((h) => `${h.addr} ${h.name}`),
      '',
    ].join('\n');
    for (const h of this.hosts) {
      mkdirSync(path.join('/etc/netns', h.ns), { recursive: true });
      writeFileSync(path.join('/etc/netns', h.ns, 'hosts'), hostsFile);
    }
  }

  host(name: string): NetHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no test host ${name}`);
    return h;
  }

  /** argv that runs `cmd` inside the host's namespace (ip execs it: the pid is the command's). */
  exec(name: string, cmd: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns, ...cmd];
  }

  /** Removes every namespace and hosts file this net created (idempotent). */
  destroy(): void {
    for (const ns of this.created.splice(0).reverse()) removeNamespace(ns);
    try {
      rmdirSync('/etc/netns'); // only when empty: other users' namespaces keep theirs
    } catch {
      // not empty, or not there
    }
  }
}
