/**
 * docker-compose.yml and the Dockerfile, proven without pulling an image:
 * 1. `docker-compose config -q` validates the file; the resolved configuration (as JSON, through
 *    python3-yaml) is checked structurally, and each service's environment is run through the
 *    server's own configuration parser;
 * 2. each service's command and environment — the image's ENTRYPOINT/ENV/WORKDIR from the
 *    Dockerfile, overlaid with the service's, exactly as Docker combines them — is launched as a
 *    `node` process in its own network namespace (198.18.0.0/24, names resolving through a hosts
 *    file as Docker's DNS would), and a CLI in a fourth namespace sees one cluster.
 * Both variants are covered: the plain file, and the TLS variant (docker-compose.tls.yml as an
 * override, with certificates made by `arbor certs`), whose CLI talks TLS with --tls-ca.
 * Needs root, iproute2, docker-compose and python3-yaml. Runtime budget: ≤ 90 s (measured ~20 s).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerConfig } from '../../src/server/config.js';
import { makeCerts } from '../../src/security/certs.js';
import { until } from '../integration/harness.js';
import { TestNet } from './netns.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICES = ['arbor1', 'arbor2', 'arbor3'] as const;

interface Service {
  build?: { context: string };
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  healthcheck: { test: string[]; interval: string; timeout: string; retries: number };
  ports: string[];
  volumes: string[];
  hostname?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** The TLS variant: docker-compose.yml overridden by docker-compose.tls.yml. */
const TLS_FILES = ['-f', 'docker-compose.yml', '-f', 'docker-compose.tls.yml'];

/**
 * `docker-compose config` resolves anchors, merges and defaults; python3-yaml turns it into JSON.
 * `files` selects the variant (`-f ...` arguments); `env` feeds the file's ${...} variables.
 */
function composeConfig(files: readonly string[] = [], env: Record<string, string> = {}): Compose {
  const yaml = execFileSync('docker-compose', [...files, 'config'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  const json = execFileSync(
    '/usr/bin/python3',
    ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { input: yaml, encoding: 'utf8' },
  );
  return JSON.parse(json) as Compose;
}

interface Image {
  readonly stages: string[];
  readonly final: string[];
  readonly workdir: string;
  readonly user: string;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly env: Record<string, string>;
}

/** The final stage of the Dockerfile: the instructions that shape the running container. */
function dockerImage(): Image {
  const lines = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages = lines.filter((l) => l.startsWith('FROM '));
  const final = lines.slice(lines.lastIndexOf(stages[stages.length - 1]!));
  const last = (kw: string): string | undefined =>
    final
      .filter((l) => l.startsWith(`${kw} `))
      .map((l) => l.slice(kw.length + 1).trim())
      .pop();
  // Exec form is a JSON array: the only form whose argv is unambiguous (and signals reach node).
  const exec = (kw: string): string[] => JSON.parse(last(kw) ?? '[]') as string[];
  const env: Record<string, string> = {};
  for (const l of final.filter((x) => x.startsWith('ENV '))) {
    const m = /^ENV ([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(l);
    if (!m) throw new Error(`write ENV as one NAME=value per line: ${l}`);
    env[m[1]!] = m[2]!;
  }
  return {
    stages,
    final,
    workdir: last('WORKDIR') ?? '/',
    user: last('USER') ?? 'root',
    entrypoint: exec('ENTRYPOINT'),
    cmd: exec('CMD'),
    env,
  };
}

interface Volume {
  readonly source: string;
  readonly target: string;
}
function volumes(s: Service): Volume[] {
  return s.volumes.map((v) => {
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}

/** The container's environment: image ENV, then the service's (compose wins, as in Docker). */
function containerEnv(image: Image, s: Service): Record<string, string> {
  return { ...image.env, ...s.environment };
}

describe('docker-compose.yml', () => {
  const image = dockerImage();
  let compose: Compose;
  beforeAll(() => {
    compose = composeConfig();
  });

  it('is valid for docker-compose (config -q)', () => {
    expect(() =>
      execFileSync('docker-compose', ['config', '-q'], { cwd: ROOT, stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('has three services built from the Dockerfile in this directory, as one image', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...SERVICES]);
    for (const name of SERVICES) {
      const s = compose.services[name]!;
      expect(s.build?.context).toBe(ROOT.replace(/\/$/, ''));
      expect(s.image).toBe('arbor:local');
    }
  });

  it('gives each service its own named volume at its data directory', () => {
    const sources = SERVICES.map((n) => volumes(compose.services[n]!));
    expect(sources.map((v) => v.length)).toEqual([1, 1, 1]);
    const names = sources.map((v) => v[0]!.source);
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(Object.keys(compose.volumes)).toContain(n);
    for (const name of SERVICES) {
      const s = compose.services[name]!;
      expect(containerEnv(image, s)['ARBOR_DATA_DIR']).toBe(volumes(s)[0]!.target);
    }
  });

  it('publishes each member’s client port on the host loopback, 4181..4183', () => {
    SERVICES.forEach((name, i) => {
      expect(compose.services[name]!.ports).toContain(`127.0.0.1:${4181 + i}:4181/tcp`);
    });
  });

  it('health-checks /healthz with a node one-liner (slim images have no curl)', () => {
    for (const name of SERVICES) {
      const hc = compose.services[name]!.healthcheck;
      expect(hc.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(hc.test[3]).toContain("fetch('http://127.0.0.1:4201/healthz')");
    }
  });

  it('configures each member by ARBOR_* variables the server accepts: advertise arborN, listen on 0.0.0.0', () => {
    SERVICES.forEach((name, i) => {
      const env = containerEnv(image, compose.services[name]!);
      const cfg = parseServerConfig([], env);
      if (!cfg.ok) throw new Error(`${name}: ${cfg.error}`);
      expect(cfg.value).toMatchObject({
        id: i + 1,
        peerAddr: `${name}:4191`,
        listenPeerAddr: '0.0.0.0:4191',
        listenClientAddr: '0.0.0.0:4181',
        httpAddr: '0.0.0.0:4201',
      });
      expect([...cfg.value.initialCluster.values()].map((m) => [m.peerUrl, m.clientUrl])).toEqual(
        SERVICES.map((n) => [`${n}:4191`, `${n}:4181`]),
      );
    });
  });

  it('builds with a multi-stage node:20-slim Dockerfile whose final stage runs as non-root with production dependencies only', () => {
    expect(image.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of image.stages) expect(s).toMatch(/^FROM node:20-slim\b/);
    const text = image.final.join('\n');
    expect(text).not.toMatch(/npm (ci|install)(?! --omit=dev)/);
    expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/RUN npm ci --omit=dev/);
    expect(text).toMatch(/COPY --from=\w+ \/app\/node_modules \.\/node_modules/);
    expect(image.user).toBe('node');
    expect(image.workdir).toBe('/app');
    expect(image.entrypoint).toEqual(['node', 'bin/arbor.js']);
  });
});

/** One member launched as Docker would launch the service, in its own namespace. */
interface Running {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly output: string[];
  exit: Promise<number | null>;
}

interface Variant {
  readonly title: string;
  /** docker-compose -f arguments; the plain file when empty. */
  readonly files: readonly string[];
  /** Makes what the variant needs before `docker-compose config` (certificates); returns its ${...} variables. */
  readonly prepare?: (dir: string) => Record<string, string>;
  /** Extra CLI arguments for talking to the members (TLS files). */
  readonly cliArgs?: (dir: string) => string[];
}

function emulate(variant: Variant): void {
  describe(variant.title, () => {
    const image = dockerImage();
    let compose: Compose;
    let net: TestNet | undefined;
    let dir = '';
    const running: Running[] = [];
    const cleanup = (): void => {
      for (const r of running)
        if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
      net?.destroy();
    };

    /** Runs argv inside a namespace (WORKDIR /app is the repository root here); resolves exit code and output. */
    const inNs = (
      host: string,
      argv: readonly string[],
      timeoutMs = 15_000,
    ): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const [cmd, ...args] = net!.exec(host, argv);
        execFile(
          cmd!,
          args,
          { cwd: ROOT, timeout: timeoutMs, env: { PATH: process.env.PATH ?? '' } },
          (e, stdout, stderr) => {
            const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      });
    const node = (argv: readonly string[]): string[] =>
      argv.map((a, i) => (i === 0 && a === 'node' ? process.execPath : a));
    const cli = (args: string[], plain = false): Promise<{ code: number; stdout: string; stderr: string }> =>
      inNs('client', [
        process.execPath,
        'bin/arbor.js',
        ...args,
        ...(plain ? [] : (variant.cliArgs?.(dir) ?? [])),
      ]);
    const endpoints = SERVICES.map((s) => `${s}:4181`).join(',');

    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-compose-'));
      compose = composeConfig(variant.files, variant.prepare?.(dir) ?? {});
      process.once('exit', cleanup);
      net = TestNet.create([...SERVICES, 'client']);
    });

    afterAll(async () => {
      cleanup();
      await Promise.all(running.map((r) => r.exit));
      process.off('exit', cleanup);
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('the health check fails while the member is down', async () => {
      const hc = compose.services['arbor1']!.healthcheck.test.slice(1);
      expect((await inNs('arbor1', node(hc))).code).toBe(1);
    });

    it('starts every service from its command and environment, as the file gives them', () => {
      for (const name of SERVICES) {
        const s = compose.services[name]!;
        const env = containerEnv(image, s);
        // Named volumes become directories, bind mounts their host directory; anything pointing
        // into a volume points there instead.
        for (const v of volumes(s)) {
          const host = path.isAbsolute(v.source) ? v.source : path.join(dir, v.source);
          for (const [k, val] of Object.entries(env)) {
            if (val === v.target || val.startsWith(`${v.target}/`))
              env[k] = host + val.slice(v.target.length);
          }
        }
        const argv = node([...(s.entrypoint ?? image.entrypoint), ...(s.command ?? image.cmd)]);
        const [cmd, ...args] = net!.exec(name, argv);
        const proc = spawn(cmd!, args, {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', HOSTNAME: s.hostname ?? name, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const output: string[] = [];
        const keep = (b: Buffer): void => {
          output.push(...b.toString().split('\n').filter(Boolean));
          if (output.length > 100) output.splice(0, output.length - 100);
        };
        proc.stdout.on('data', keep);
        proc.stderr.on('data', keep);
        const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
        running.push({ name, proc, output, exit });
      }
    });

    it('the three form one cluster: a client in another namespace sees one leader and three members', async () => {
      const logs = (): string =>
        running.map((r) => `--- ${r.name}\n${r.output.slice(-20).join('\n')}`).join('\n');
      const status = await until(
        async () => {
          const r = await cli(['status', '--json', '--endpoints', endpoints, '--timeout', '2000']);
          if (r.code !== 0) return undefined;
          const rows = JSON.parse(r.stdout) as {
            type: string;
            status?: { leaderId: number; role: string };
          }[];
          const leaders = new Set(rows.map((x) => x.status?.leaderId ?? -1));
          const ok = rows.length === 3 && rows.every((x) => x.type === 'ok') && leaders.size === 1;
          return ok && !leaders.has(0) ? rows : undefined;
        },
        30_000,
        'one leader agreed by all three members',
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${logs()}`);
      });
      expect(status.filter((x) => x.status?.role === 'leader')).toHaveLength(1);

      const members = await cli(['members', '--json', '--endpoints', endpoints]);
      expect(members.code).toBe(0);
      const list = (
        JSON.parse(members.stdout) as { members: { id: number; peerUrl: string; clientUrl: string }[] }
      ).members;
      expect(list.map((m) => [m.id, m.peerUrl, m.clientUrl])).toEqual(
        SERVICES.map((n, i) => [i + 1, `${n}:4191`, `${n}:4181`]),
      );
    });

    it('a write through arbor1 is read through arbor3', async () => {
      expect((await cli(['create', '/compose', 'hello', '--endpoints', 'arbor1:4181'])).code).toBe(0);
      const r = await cli(['get', '/compose', '--endpoints', 'arbor3:4181']);
      expect(r).toMatchObject({ code: 0, stdout: 'hello\n' });
    });

    if (variant.cliArgs !== undefined) {
      it('a client that does not speak TLS gets no answer', async () => {
        const r = await cli(['get', '/compose', '--endpoints', 'arbor1:4181', '--timeout', '1500'], true);
        expect(r.code).toBe(1);
      });
    }

    it('the health check passes and every member is ready', async () => {
      for (const name of SERVICES) {
        const hc = compose.services[name]!.healthcheck.test.slice(1);
        expect((await inNs(name, node(hc))).code).toBe(0);
        const ready = await inNs(name, [
          process.execPath,
          '-e',
          "fetch('http://127.0.0.1:4201/readyz').then(async (r) => { console.log(await r.text()); process.exit(r.ok ? 0 : 1) }, () => process.exit(2))",
        ]);
        expect(ready.code, ready.stdout).toBe(0);
      }
    });

    it('docker stop (SIGTERM) stops each member cleanly, exit 0', async () => {
      for (const r of running) r.proc.kill('SIGTERM');
      expect(await Promise.all(running.map((r) => r.exit))).toEqual([0, 0, 0]);
    });
  });
}

emulate({ title: 'the compose services as processes in network namespaces', files: [] });

/** Certificates as the file's header says to make them, where ARBOR_CERTS_DIR points. */
function tlsCerts(dir: string): Record<string, string> {
  const out = path.join(dir, 'certs');
  makeCerts({ out, members: [...SERVICES], hosts: ['localhost', '127.0.0.1'], clients: [], days: 2 });
  return { ARBOR_CERTS_DIR: out };
}

describe('docker-compose.tls.yml over docker-compose.yml', () => {
  const image = dockerImage();
  let compose: Compose;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-compose-tls-'));
    compose = composeConfig(TLS_FILES, { ARBOR_CERTS_DIR: path.join(dir, 'certs') });
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('is valid for docker-compose (config -q)', () => {
    expect(() =>
      execFileSync('docker-compose', [...TLS_FILES, 'config', '-q'], { cwd: ROOT, stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('configures TLS on the client port, mutual TLS between members and --require-tls, from a read-only /certs', () => {
    SERVICES.forEach((name) => {
      const s = compose.services[name]!;
      expect(s.volumes).toContain(`${path.join(dir, 'certs')}:/certs:ro`);
      const cfg = parseServerConfig([], containerEnv(image, s));
      if (!cfg.ok) throw new Error(`${name}: ${cfg.error}`);
      expect(cfg.value.tls).toMatchObject({ cert: `/certs/${name}.crt`, key: `/certs/${name}.key` });
      expect(cfg.value.peerTls).toEqual({
        cert: `/certs/${name}.crt`,
        key: `/certs/${name}.key`,
        ca: '/certs/ca.crt',
      });
      expect(containerEnv(image, s)['ARBOR_REQUIRE_TLS']).toBe('true');
    });
  });
});

emulate({
  title: 'the TLS compose services as processes in network namespaces',
  files: TLS_FILES,
  prepare: tlsCerts,
  cliArgs: (dir) => ['--tls-ca', path.join(dir, 'certs', 'ca.crt')],
});
