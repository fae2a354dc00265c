/**
 * The compiled `arbor` command end to end against a real three-member cluster: every command,
 * human and --json output, exit codes (0 ok, 1 failed, 2 usage, watch ends 0 on Ctrl-C) and the
 * one-line stderr message of each failure. Runtime budget: ≤ 60 s (measured ~25 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, until } from '../integration/harness.js';
import { arbor, arborLive, type CliResult } from './run-cli.js';

let cluster: TestCluster;
let endpoints: string;

/** `arbor --endpoints <cluster> ARGS`, expecting success; returns stdout. */
async function ok(args: string[], input?: string): Promise<string> {
  const r = await arbor(['--endpoints', endpoints, ...args], input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`arbor ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  expect(r.stderr).toBe('');
  return r.stdout;
}

async function json<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

function fails(args: string[], opts: { endpoints?: string } = {}): Promise<CliResult> {
  return arbor(['--endpoints', opts.endpoints ?? endpoints, ...args]);
}

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
  endpoints = cluster.members.map((m) => m.clientAddr).join(',');
});

afterAll(async () => {
  await cluster?.stop();
});

describe('arbor data commands', () => {
  it('create prints the created path; -p creates parents; --sequential appends the counter', async () => {
    expect(await ok(['create', '/app', 'hello'])).toBe('/app\n');
    expect(await ok(['create', '/app/q/job-', '--sequential', '-p'])).toBe('/app/q/job-0000000000\n');
    const j = await json(['create', '/app/q/job-', '--sequential']);
    expect(j).toMatchObject({ path: '/app/q/job-0000000001', stat: { version: 0, dataLength: 0 } });
  });

  it('get prints the data as stored; --json adds stat and revision; --serializable reads locally', async () => {
    expect(await ok(['get', '/app'])).toBe('hello\n');
    const j = await json(['get', '/app']);
    expect(j).toMatchObject({
      path: '/app',
      data: 'hello',
      encoding: 'utf8',
      stat: { version: 0, dataLength: 5 },
    });
    expect(j.revision).toBeGreaterThan(0);
    expect(await ok(['get', '/app', '--serializable', '--endpoints', cluster.members[2]!.clientAddr])).toBe(
      'hello\n',
    );
  });

  it('set replaces data from the argument or stdin and prints the new version; --version checks it', async () => {
    expect(await ok(['set', '/app', 'world'])).toBe('/app version 1\n');
    expect(await ok(['set', '/app'], 'from stdin')).toBe('/app version 2\n');
    expect(await ok(['get', '/app'])).toBe('from stdin\n');
    expect(await json(['set', '/app', 'v3', '--version', '2'])).toMatchObject({
      path: '/app',
      stat: { version: 3 },
    });
    const r = await fails(['set', '/app', 'stale', '--version', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^arbor: FailedPreconditionError \[FAILED_PRECONDITION\]: .+\n$/);
  });

  it('ls lists children one per line; --json as an array', async () => {
    expect(await ok(['ls', '/app/q'])).toBe('job-0000000000\njob-0000000001\n');
    expect(await json(['ls', '/'])).toEqual({ path: '/', children: ['app'] });
  });

  it('stat prints aligned metadata; --json the stat object', async () => {
    const lines = (await ok(['stat', '/app'])).trimEnd().split('\n');
    expect(lines).toContain('version          = 3');
    expect(lines).toContain('numChildren      = 1');
    expect(lines).toContain('ephemeralOwner   = 0');
    expect(await json(['stat', '/app/q'])).toMatchObject({
      path: '/app/q',
      stat: { numChildren: 2, version: 0, ephemeralOwner: '0' },
    });
  });

  it('tree draws the hierarchy; --json nests it', async () => {
    expect(await ok(['tree', '/'])).toBe(
      ['/', '└── app', '    └── q', '        ├── job-0000000000', '        └── job-0000000001', ''].join(
        '\n',
      ),
    );
    expect(await json(['tree', '/app'])).toEqual({
      name: '/app',
      children: [
        {
          name: 'q',
          children: [
            { name: 'job-0000000000', children: [] },
            { name: 'job-0000000001', children: [] },
          ],
        },
      ],
    });
  });

  it('rm deletes silently; -r deletes a subtree; a missing node is exit 1 NoNodeError', async () => {
    const notEmpty = await fails(['rm', '/app']);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/^arbor: FailedPreconditionError \[FAILED_PRECONDITION\]/);
    expect(await ok(['rm', '/app/q/job-0000000000'])).toBe('');
    expect(await json(['rm', '/app/q/job-0000000001', '--version', '0'])).toEqual({
      path: '/app/q/job-0000000001',
      deleted: true,
    });
    expect(await ok(['rm', '/app', '-r'])).toBe('');
    for (const args of [
      ['get', '/app'],
      ['stat', '/app'],
      ['ls', '/app'],
      ['rm', '/app'],
    ]) {
      const r = await fails(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^arbor: NoNodeError \[NOT_FOUND\]: .*\/app/);
    }
  });

  it('create of an existing node is exit 1 NodeExistsError', async () => {
    await ok(['create', '/dup']);
    const r = await fails(['create', '/dup']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^arbor: NodeExistsError \[ALREADY_EXISTS\]/);
  });
});

describe('arbor watch', () => {
  it('streams events as they happen and ends with exit 0 on Ctrl-C (SIGINT)', async () => {
    const created = await json(['create', '/w', 'a']);
    // Start from the next revision, so no event can slip between the watch starting and the writes.
    const from = String(created.stat.modifiedRevision + 1);
    const human = arborLive(['--endpoints', endpoints, 'watch', '/w', '--scope', 'subtree', '--from', from]);
    const machine = arborLive(['--endpoints', endpoints, 'watch', '/w', '--from', from, '--json']);
    await ok(['set', '/w', 'bb']);
    await ok(['create', '/w/child', 'ccc']);
    await until(() => (human.stdout.split('\n').length > 2 ? true : undefined), 15_000, 'two watch events');
    await until(() => (machine.stdout.includes('\n') ? true : undefined), 15_000, 'a json watch event');
    human.proc.kill('SIGINT');
    machine.proc.kill('SIGINT');
    const [h, m] = await Promise.all([human.done, machine.done]);
    expect(h).toMatchObject({ code: 0, stderr: '' });
    expect(h.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^ +\d+ {2}updated {2}\/w {2}\(2 bytes\)$/),
      expect.stringMatching(/^ +\d+ {2}created {2}\/w\/child {2}\(3 bytes\)$/),
    ]);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.stdout.split('\n')[0]!)).toMatchObject({
      type: 'updated',
      path: '/w',
      data: 'bb',
      encoding: 'utf8',
      stat: { version: 1 },
    });
  });
});

describe('arbor cluster commands', () => {
  it('status shows every member in a table; --json one row per endpoint with one leader', async () => {
    const lines = (await ok(['status'])).trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ENDPOINT\s+ID\s+NAME\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+REVISION\s+ERROR$/,
    );
    expect(lines).toHaveLength(4);
    const rows = await json<{ type: string; status: { memberId: number; leaderId: number; role: string } }[]>(
      ['status'],
    );
    expect(rows.map((r) => r.type)).toEqual(['ok', 'ok', 'ok']);
    expect(rows.filter((r) => r.status.role === 'leader')).toHaveLength(1);
    expect(new Set(rows.map((r) => r.status.leaderId)).size).toBe(1);
  });

  it('members lists id, name, role (leader marked), health and URLs', async () => {
    const leader = await cluster.waitForLeader();
    const lines = (await ok(['members'])).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ROLE\s+HEALTHY\s+PEER URL\s+CLIENT URL$/);
    expect(lines.find((l) => l.startsWith(`${leader} `))).toContain('voter (leader)');
    const j = await json(['members']);
    expect(j.leaderId).toBe(leader);
    expect(j.members.map((m: any) => [m.id, m.role, m.peerUrl, m.clientUrl])).toEqual(
      cluster.members.map((m) => [m.id, 'voter', m.peerAddr, m.clientAddr]),
    );
  });

  it('member add --learner, promote, leader transfer, member remove', async () => {
    const joiner = await cluster.spawnJoiner(4);
    const added = await json([
      'member',
      'add',
      '4',
      'm4',
      '--peer-url',
      joiner.peerAddr,
      '--client-url',
      joiner.clientAddr,
      '--learner',
    ]);
    expect(added.members.find((m: any) => m.id === 4)).toMatchObject({ name: 'm4', role: 'learner' });
    // A learner is promoted once it has caught up; until then the leader refuses.
    const promoted = await until(
      async () => {
        const r = await arbor(['--endpoints', endpoints, 'member', 'promote', '4']);
        return r.code === 0 ? r.stdout : undefined;
      },
      30_000,
      'promote member 4',
    );
    expect(promoted).toMatch(/^4\s+m4\s+voter\s+/m);

    const transferred = await ok(['leader', 'transfer', '4']);
    expect(transferred).toBe('leader is now 4\n');
    expect(await json(['leader', 'transfer', '1'])).toMatchObject({ leaderId: 1 });

    const removed = await ok(['member', 'remove', '4']);
    expect(removed).not.toMatch(/^4\s/m);
    expect((await json(['members'])).members.map((m: any) => m.id)).toEqual([1, 2, 3]);
    await cluster.kill(4);
  });

  it('status still answers with a member down: its row says unreachable, exit 0', async () => {
    await cluster.kill(3);
    const lines = (await ok(['status', '--timeout', '1000'])).trimEnd().split('\n');
    expect(lines.find((l) => l.startsWith(cluster.member(3).clientAddr))).toMatch(/unreachable/);
    cluster.restart(3);
    await cluster.waitForLeader();
  });
});

describe('arbor errors', () => {
  it.each<[string, string[], RegExp]>([
    ['unknown command', ['frobnicate'], /^arbor: unknown command 'frobnicate'\n/],
    ['missing path', ['get'], /^arbor: missing PATH\n/],
    ['relative path', ['ls', 'app'], /^arbor: PATH must be absolute/],
    ['unknown option', ['get', '/a', '--bogus'], /^arbor: Unknown option '--bogus'/],
    ['bad integer', ['set', '/a', 'x', '--version', 'new'], /^arbor: --version must be an integer/],
    [
      'bad watch scope',
      ['watch', '/a', '--scope', 'all'],
      /^arbor: --scope must be node, children or subtree/,
    ],
    ['ephemeral from the CLI', ['create', '/e', '--ephemeral'], /^arbor: --ephemeral needs a session/],
  ])('%s: exit 2, usage on stderr, nothing on stdout', async (_n, args, message) => {
    const r = await fails(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('--help: exit 0, usage on stdout', async () => {
    const main = await arbor(['--help']);
    expect(main.code).toBe(0);
    for (const c of ['get', 'set', 'create', 'rm', 'ls', 'stat', 'tree', 'watch', 'status', 'members'])
      expect(main.stdout).toContain(`arbor ${c}`);
    const one = await arbor(['watch', '--help']);
    expect(one).toMatchObject({ code: 0, stderr: '' });
    expect(one.stdout).toMatch(/^Usage: arbor watch PATH/);
  });

  it('no member reachable: exit 1 with UNAVAILABLE or DEADLINE_EXCEEDED, within the --timeout', async () => {
    const r = await fails(['get', '/x', '--timeout', '1500'], { endpoints: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^arbor: (UnavailableError \[UNAVAILABLE\]|DeadlineError \[DEADLINE_EXCEEDED\])/,
    );
    const s = await fails(['status', '--timeout', '1000'], { endpoints: '127.0.0.1:1' });
    expect(s.code).toBe(1);
    expect(s.stdout).toMatch(/127\.0\.0\.1:1\s+-\s+-\s+unreachable/);
    expect(s.stderr).toBe('arbor: no member answered\n');
  });
});
