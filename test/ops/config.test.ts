/**
 * `arbor server` configuration as an operator meets it: flags and ARBOR_* variables, the
 * "listen here, advertise there" split containers need, and the errors for every mistake.
 * Runtime budget: ~3 s (three short-lived processes).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FLAGS, envName, helpText, parseServerConfig, type ServerConfig } from '../../src/server/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARBOR = path.join(ROOT, 'bin/arbor.js');
const run = promisify(execFile);

const IC = '1=127.0.0.1:4191,2=127.0.0.1:4192,3=127.0.0.1:4193';
const COMPOSE_IC = '1=arbor1:4191|arbor1:4181,2=arbor2:4191|arbor2:4181,3=arbor3:4191|arbor3:4181';

function parse(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const r = parseServerConfig(argv, env);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function failure(argv: string[], env: Record<string, string> = {}): string {
  const r = parseServerConfig(argv, env);
  if (r.ok) throw new Error(`expected ${argv.join(' ')} to be refused`);
  return r.error;
}

async function arbor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [ARBOR, ...args], { env: { PATH: process.env.PATH ?? '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('listen addresses versus advertised addresses', () => {
  it('by default each server binds the address it advertises', () => {
    const c = parse(['--id', '2', '--initial-cluster', IC, '--client-addr', '127.0.0.1:4182']);
    expect(c.peerAddr).toBe('127.0.0.1:4192');
    expect(c.listenPeerAddr).toBe('127.0.0.1:4192');
    expect(c.clientAddr).toBe('127.0.0.1:4182');
    expect(c.listenClientAddr).toBe('127.0.0.1:4182');
  });

  it('--listen-peer-addr binds elsewhere while --peer-addr still matches --initial-cluster', () => {
    const c = parse([
      '--id',
      '1',
      '--initial-cluster',
      COMPOSE_IC,
      '--peer-addr',
      'arbor1:4191',
      '--listen-peer-addr',
      '0.0.0.0:4191',
      '--client-addr',
      'arbor1:4181',
      '--listen-client-addr',
      '0.0.0.0:4181',
    ]);
    expect(c).toMatchObject({
      peerAddr: 'arbor1:4191',
      listenPeerAddr: '0.0.0.0:4191',
      clientAddr: 'arbor1:4181',
      listenClientAddr: '0.0.0.0:4181',
    });
    // What other members and clients are told is the advertised address, never 0.0.0.0.
    expect(c.initialCluster.get(c.id)).toMatchObject({ peerUrl: 'arbor1:4191', clientUrl: 'arbor1:4181' });
  });

  it('the compose file’s environment alone configures a member (every flag is an ARBOR_* variable)', () => {
    const c = parse([], {
      ARBOR_ID: '3',
      ARBOR_NAME: 'arbor3',
      ARBOR_INITIAL_CLUSTER: COMPOSE_IC,
      ARBOR_CLIENT_ADDR: '0.0.0.0:4181',
      ARBOR_PEER_ADDR: 'arbor3:4191',
      ARBOR_LISTEN_PEER_ADDR: '0.0.0.0:4191',
      ARBOR_HTTP_ADDR: '0.0.0.0:4201',
      ARBOR_DATA_DIR: '/data',
    });
    expect(c).toMatchObject({
      id: 3,
      name: 'arbor3',
      peerAddr: 'arbor3:4191',
      listenPeerAddr: '0.0.0.0:4191',
      listenClientAddr: '0.0.0.0:4181',
      httpAddr: '0.0.0.0:4201',
      dataDir: '/data',
    });
    expect(c.initialCluster.get(c.id)?.clientUrl).toBe('arbor3:4181');
  });

  it('a flag wins over its environment variable', () => {
    const c = parse(['--listen-peer-addr', '127.0.0.1:5000'], {
      ARBOR_ID: '1',
      ARBOR_INITIAL_CLUSTER: IC,
      ARBOR_LISTEN_PEER_ADDR: '0.0.0.0:4191',
    });
    expect(c.listenPeerAddr).toBe('127.0.0.1:5000');
  });
});

describe('configuration mistakes are refused with a message that says what to fix', () => {
  const base = ['--id', '1', '--initial-cluster', IC];
  it.each<[string, string[], Record<string, string>, RegExp]>([
    ['unknown flag', [...base, '--listen-addr', '0.0.0.0:1'], {}, /unknown flag --listen-addr/],
    ['positional argument', [...base, 'extra'], {}, /unexpected argument 'extra'/],
    ['flag without its value', [...base, '--data-dir'], {}, /--data-dir needs a value/],
    ['flag followed by another flag', [...base, '--data-dir', '--join'], {}, /--data-dir needs a value/],
    ['boolean flag with a value', [...base, '--join=yes'], {}, /--join takes no value or =true\/=false/],
    ['missing --id', ['--initial-cluster', IC], {}, /--id is required/],
    [
      '--id not a positive integer',
      ['--id', '0', '--initial-cluster', IC],
      {},
      /--id must be a positive integer/,
    ],
    ['missing --initial-cluster', ['--id', '1'], {}, /--initial-cluster is required/],
    [
      '--initial-cluster without this id',
      ['--id', '4', '--initial-cluster', IC],
      {},
      /does not list this member's id 4/,
    ],
    [
      '--join for a founding member',
      [...base, '--join'],
      {},
      /--join starts a NEW member, but --initial-cluster already lists id 1/,
    ],
    [
      '--peer-addr contradicting --initial-cluster',
      [...base, '--peer-addr', '0.0.0.0:4191'],
      {},
      /--peer-addr 0.0.0.0:4191 contradicts --initial-cluster, which gives member 1 the peer address 127.0.0.1:4191/,
    ],
    [
      '--peer-addr from the environment contradicting --initial-cluster',
      base,
      { ARBOR_PEER_ADDR: '127.0.0.1:9999' },
      /--peer-addr 127.0.0.1:9999 contradicts --initial-cluster/,
    ],
    [
      'two advertised addresses equal',
      [...base, '--client-addr', '127.0.0.1:4191'],
      {},
      /--client-addr, --peer-addr and --http-addr must all differ/,
    ],
    [
      'two servers binding one address',
      [...base, '--listen-client-addr', '0.0.0.0:4191', '--listen-peer-addr', '0.0.0.0:4191'],
      {},
      /bind the same address/,
    ],
    [
      'listen address not host:port',
      [...base, '--listen-peer-addr', '0.0.0.0'],
      {},
      /--listen-peer-addr must be host:port/,
    ],
    [
      'port out of range',
      [...base, '--listen-client-addr', '0.0.0.0:70000'],
      {},
      /--listen-client-addr must be host:port/,
    ],
    [
      'heartbeat not below election',
      [...base, '--heartbeat-ticks', '10'],
      {},
      /--heartbeat-ticks must be smaller/,
    ],
    ['tick not an integer', [...base, '--tick-ms', '2.5'], {}, /--tick-ms must be an integer >= 1/],
    [
      'a request data limit below one znode',
      [...base, '--max-request-data-bytes', '1000'],
      {},
      /--max-request-data-bytes \(1000\) is below --max-data-bytes \(1048576\)/,
    ],
    [
      'a client message limit a full znode cannot fit in',
      [...base, '--max-message-bytes', '1048576'],
      {},
      /--max-message-bytes \(1048576\) must be at least --max-data-bytes \+ 65536 \(1114112\)/,
    ],
    [
      'a peer message limit below the client one',
      [...base, '--peer-max-message-bytes', '4194304'],
      {},
      /--peer-max-message-bytes \(4194304\) must be at least --max-message-bytes \+ 65536/,
    ],
    ['a limit of zero', [...base, '--max-watches-per-connection', '0'], {}, /must be an integer >= 1/],
  ])('%s', (_name, argv, env, message) => {
    expect(failure(argv, env)).toMatch(message);
  });
});

describe('limits', () => {
  it('derive the request and message sizes from --max-data-bytes unless given', () => {
    const c = parse(['--id', '1', '--initial-cluster', IC, '--max-data-bytes', '4194304']);
    expect(c.limits).toMatchObject({ maxRequestDataBytes: 8_388_608, maxMessageBytes: 8_454_144 });
    const d = parse(['--id', '1', '--initial-cluster', IC], { ARBOR_MAX_CHILDREN: '50' });
    expect(d.limits).toMatchObject({
      maxChildren: 50,
      maxRequestDataBytes: 2_097_152,
      maxMessageBytes: 4_194_304,
      peerMaxMessageBytes: 67_108_864,
      maxRequestsPerConnection: 10_000,
      maxWatchesPerConnection: 10_000,
      maxSessionsPerClient: 1024,
    });
  });

  it('tree limits say in --help that every member needs the same value', () => {
    for (const name of ['max-path-bytes', 'max-path-depth', 'max-children', 'max-multi-ops']) {
      expect(FLAGS.find((f) => f.name === name)?.help).toMatch(/give every member the same value/);
    }
  });
});

describe('--help', () => {
  it('lists every flag with its environment variable and its default', () => {
    const help = helpText();
    for (const f of FLAGS) {
      expect(help).toContain(`--${f.name}`);
      expect(help).toContain(envName(f.name));
      if (f.def !== undefined) expect(help).toContain(`(default: ${f.def})`);
      if (f.bool) expect(help).toMatch(new RegExp(`--${f.name}\\s+${envName(f.name)}`));
    }
    expect(FLAGS.map((f) => f.name)).toEqual(
      expect.arrayContaining(['listen-client-addr', 'listen-peer-addr']),
    );
  });
});

describe('docs/operations.md', () => {
  it('documents every flag', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    for (const f of FLAGS) expect(doc, f.name).toContain(`| \`--${f.name}\` |`);
  });
});

describe('the arbor server process', () => {
  it('--help prints every flag and its default, exit 0', async () => {
    const r = await arbor(['server', '--help']);
    expect(r.code).toBe(0);
    for (const f of FLAGS) {
      expect(r.stdout).toContain(`--${f.name}`);
      if (f.def !== undefined) expect(r.stdout).toContain(`(default: ${f.def})`);
    }
  });

  it.each([
    [['server', '--bogus'], 'arbor server: unknown flag --bogus (see arbor server --help)'],
    [['server', '--initial-cluster', IC], 'arbor server: --id is required'],
  ])('%j exits 2 with the reason on stderr', async (args, message) => {
    const r = await arbor(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });
});
