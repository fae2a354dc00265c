import { afterEach, describe, expect, it } from 'vitest';
import { ArborClient } from '../../src/client/index.js';
import {
  dataJson,
  formatError,
  formatEvent,
  formatMembers,
  formatStat,
  formatStatus,
  renderTree,
  toJson,
} from '../../src/cli/commands/format.js';
import { commandHelp, parseCommandLine, type Command } from '../../src/cli/commands/parse.js';
import { runCommand } from '../../src/cli/commands/run.js';
import { NoNodeError } from '../../src/client/errors.js';
import { startFakeCluster } from './fake-server.js';

const parse = (line: string, env: Record<string, string> = {}): ReturnType<typeof parseCommandLine> =>
  parseCommandLine(line === '' ? [] : line.split(' '), env);
const command = (line: string): Command => {
  const r = parse(line);
  if (!r.ok) throw new Error(r.error);
  return r.value.command;
};

describe('arbor argument parsing', () => {
  it.each<[string, Command]>([
    ['get /a', { type: 'get', path: '/a', serializable: false }],
    ['get /a --serializable', { type: 'get', path: '/a', serializable: true }],
    ['set /a hello --version 3', { type: 'set', path: '/a', data: 'hello', version: 3 }],
    ['set /a', { type: 'set', path: '/a', data: undefined, version: -1 }],
    [
      'create /a x',
      { type: 'create', path: '/a', data: 'x', mode: 'persistent', ttlMs: undefined, parents: false },
    ],
    [
      'create /q/job- --sequential -p',
      {
        type: 'create',
        path: '/q/job-',
        data: '',
        mode: 'persistent-sequential',
        ttlMs: undefined,
        parents: true,
      },
    ],
    [
      'create /c --container',
      { type: 'create', path: '/c', data: '', mode: 'container', ttlMs: undefined, parents: false },
    ],
    [
      'create /t --ttl 5000',
      { type: 'create', path: '/t', data: '', mode: 'persistent-ttl', ttlMs: 5000, parents: false },
    ],
    ['rm /a -r', { type: 'rm', path: '/a', recursive: true, version: -1 }],
    ['rm /a --version 0', { type: 'rm', path: '/a', recursive: false, version: 0 }],
    ['ls /', { type: 'ls', path: '/' }],
    ['stat /a', { type: 'stat', path: '/a' }],
    ['tree', { type: 'tree', path: '/' }],
    ['watch /a --scope subtree --from 7', { type: 'watch', path: '/a', scope: 'subtree', from: 7 }],
    ['status', { type: 'status' }],
    ['members', { type: 'members' }],
    [
      'member add 4 m4 --peer-url http://h:4190 --client-url h:4184 --learner',
      { type: 'member-add', id: 4, name: 'm4', peerUrl: 'http://h:4190', clientUrl: 'h:4184', learner: true },
    ],
    ['member promote 4', { type: 'member-promote', id: 4 }],
    ['member remove 4', { type: 'member-remove', id: 4 }],
    ['leader transfer', { type: 'leader-transfer', id: 0 }],
    ['leader transfer 2', { type: 'leader-transfer', id: 2 }],
    ['server --config x.json', { type: 'server', argv: ['--config', 'x.json'] }],
  ])('%s', (line, expected) => {
    expect(command(line)).toEqual(expected);
  });

  it.each([
    ['frobnicate /a', /unknown command 'frobnicate'/],
    ['get', /missing PATH/],
    ['get a', /must be absolute/],
    ['get /a /b', /unexpected argument '\/b'/],
    ['set /a x --version x', /--version must be an integer/],
    ['create /a --ephemeral', /needs a session/],
    ['create /a --container --ttl 5', /exclude each other/],
    ['watch /a --scope tree', /--scope must be node, children or subtree/],
    ['get /a --bogus', /Unknown option '--bogus'/],
    ['member add 4 m4', /missing --peer-url/],
    ['member promote x', /ID must be an integer/],
    ['get /a --timeout 0', /--timeout must be an integer >= 1/],
  ])('rejects "%s"', (line, message) => {
    const r = parse(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('global options go anywhere; endpoints come from the flag, $ARBOR_ENDPOINTS, or the default', () => {
    const a = parse('--endpoints h1:1,h2:2 --json get /a --timeout 500');
    expect(a.ok && a.value.globals).toEqual({ endpoints: ['h1:1', 'h2:2'], json: true, timeoutMs: 500 });
    const b = parse('get /a', { ARBOR_ENDPOINTS: 'e:1, grpc://e:2' });
    expect(b.ok && b.value.globals.endpoints).toEqual(['e:1', 'e:2']);
    const c = parse('get /a');
    expect(c.ok && c.value.globals.endpoints).toEqual(['127.0.0.1:4181', '127.0.0.1:4182', '127.0.0.1:4183']);
    const d = parse('--endpoints x:1 member promote 3');
    expect(d.ok && d.value.command).toEqual({ type: 'member-promote', id: 3 });
  });

  it('--help per command, and overall', () => {
    const r = parse('rm --help');
    expect(r.ok && r.value.command).toEqual({ type: 'help', text: commandHelp('rm') });
    expect(commandHelp('rm')).toMatch(/^Usage: arbor rm PATH \[-r\|--recursive\]/);
    const all = parse('');
    expect(all.ok && all.value.command.type === 'help' && all.value.command.text).toMatch(/leader transfer/);
    const h = parse('member add --help');
    expect(h.ok && h.value.command.type === 'help' && h.value.command.text).toMatch(/--peer-url URL/);
  });
});

describe('arbor output formatting', () => {
  it('draws a tree with box-drawing branches', () => {
    const tree = {
      name: '/',
      children: [
        {
          name: 'a',
          children: [
            { name: 'x', children: [] },
            { name: 'y', children: [{ name: 'z', children: [] }] },
          ],
        },
        { name: 'b', children: [] },
      ],
    };
    expect(renderTree(tree)).toEqual(['/', '├── a', '│   ├── x', '│   └── y', '│       └── z', '└── b']);
  });

  it('renders stat aligned, ephemeral owner in hex', () => {
    const lines = formatStat({
      createdRevision: 3,
      modifiedRevision: 5,
      childrenRevision: 3,
      version: 2,
      childrenVersion: 0,
      createdMs: 0,
      modifiedMs: 1_700_000_000_000,
      ephemeralOwner: 255n,
      dataLength: 4,
      numChildren: 0,
      aclVersion: 0,
    });
    expect(lines[0]).toBe('createdRevision  = 3');
    expect(lines).toContain('ephemeralOwner   = 0xff');
    expect(lines).toContain('modified         = 2023-11-14T22:13:20.000Z (1700000000000)');
  });

  it('renders members and status tables', () => {
    const members = [
      {
        id: 1,
        name: 'm1',
        clientUrl: 'h:4181',
        peerUrl: 'http://h:4191',
        role: 'voter' as const,
        healthy: true,
      },
      {
        id: 2,
        name: 'm2',
        clientUrl: 'h:4182',
        peerUrl: 'http://h:4192',
        role: 'learner' as const,
        healthy: false,
      },
    ];
    expect(formatMembers(members, 1)).toEqual([
      'ID  NAME  ROLE            HEALTHY  PEER URL       CLIENT URL',
      '1   m1    voter (leader)  yes      http://h:4191  h:4181',
      '2   m2    learner         no       http://h:4192  h:4182',
    ]);
    const status = formatStatus([
      {
        type: 'ok',
        status: {
          endpoint: 'h:4181',
          memberId: 1,
          leaderId: 1,
          term: 4,
          commitIndex: 10,
          appliedIndex: 9,
          revision: 9,
          members,
          name: 'm1',
          role: 'leader',
        },
      },
      { type: 'error', endpoint: 'h:4182', error: 'connect ECONNREFUSED' },
    ]);
    expect(status[0]).toMatch(
      /^ENDPOINT\s+ID\s+NAME\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+REVISION\s+ERROR$/,
    );
    expect(status[1]).toMatch(/^h:4181\s+1\s+m1\s+leader\s+4\s+1\s+10\s+9\s+9$/);
    expect(status[2]).toMatch(/^h:4182\s+-\s+-\s+unreachable\s+(-\s+){5}connect ECONNREFUSED$/);
  });

  it('renders events, JSON with bigints, binary data and errors', () => {
    const ev = {
      type: 'updated' as const,
      path: '/a',
      data: Buffer.from('xyz'),
      stat: undefined,
      revision: 12,
    };
    expect(formatEvent(ev)).toBe('      12  updated  /a  (3 bytes)');
    expect(toJson({ owner: 2n ** 63n })).toBe('{"owner":"9223372036854775808"}');
    expect(dataJson(Buffer.from('hé'))).toEqual({ data: 'hé', encoding: 'utf8' });
    expect(dataJson(Buffer.from([0xff, 0x00]))).toEqual({ data: '/wA=', encoding: 'base64' });
    expect(formatError(new NoNodeError('no node /x'))).toBe('arbor: NoNodeError [NOT_FOUND]: no node /x');
    expect(formatError(new Error('boom'))).toBe('arbor: boom');
  });
});

describe('arbor commands against an in-memory member', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function run(client: ArborClient, line: string, stdin = ''): Promise<string[]> {
    const r = parseCommandLine(line.split(' '));
    if (!r.ok) throw new Error(r.error);
    const cmd = r.value.command;
    if (cmd.type === 'help' || cmd.type === 'server') throw new Error('not a data command');
    const out: string[] = [];
    await runCommand(client, r.value.globals, cmd, {
      out: (l) => out.push(l),
      raw: (d) => out.push(d.toString()),
      readStdin: () => Promise.resolve(Buffer.from(stdin)),
      signal: new AbortController().signal,
    });
    return out;
  }

  it('create, set (from stdin), get, ls, tree, stat, rm, status, members', async () => {
    const cluster = await startFakeCluster(1);
    const client = new ArborClient({ endpoints: cluster.endpoints });
    cleanup.push(
      () => cluster.stop(),
      () => client.close(),
    );
    expect(await run(client, 'create /app/db/primary x -p')).toEqual(['/app/db/primary']);
    await run(client, 'create /app/cfg');
    expect(await run(client, 'set /app/cfg', 'from-stdin')).toEqual(['/app/cfg version 1']);
    expect(await run(client, 'get /app/cfg')).toEqual(['from-stdin', '']);
    expect(await run(client, 'ls /app')).toEqual(['cfg', 'db']);
    expect(await run(client, 'tree /app')).toEqual(['/app', '├── cfg', '└── db', '    └── primary']);
    expect((await run(client, 'stat /app/cfg'))[3]).toBe('version          = 1');
    const json = JSON.parse((await run(client, 'get /app/cfg --json'))[0]!) as Record<string, unknown>;
    expect(json).toMatchObject({
      path: '/app/cfg',
      data: 'from-stdin',
      encoding: 'utf8',
      stat: { version: 1 },
    });
    await expect(run(client, 'rm /app')).rejects.toThrow(/not empty/);
    await run(client, 'rm /app -r');
    await expect(run(client, 'stat /app')).rejects.toBeInstanceOf(NoNodeError);
    expect((await run(client, 'status'))[1]).toMatch(
      new RegExp(`^${cluster.endpoints[0]}\\s+1\\s+m1\\s+leader`),
    );
    expect(await run(client, 'members')).toHaveLength(2);
  });
});
