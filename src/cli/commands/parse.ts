/**
 * Command-line parsing for `arbor` (pure: argv and environment in, a tagged Command out).
 * Built on node:util parseArgs; every command has its own usage text for `--help`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_ENDPOINTS } from '../../client/client.js';
import type { CreateMode, WatchScope } from '../../client/types.js';
import { err, ok, type Result } from '../../util/result.js';
import type { AclEntry } from '../../client/types.js';
import { parseAclEntry } from '../../tree/acl.js';

export interface Globals {
  readonly endpoints: string[];
  readonly json: boolean;
  readonly timeoutMs: number | undefined;
  /** Talk TLS to the members: set when any of --tls-ca/--tls-cert/--tls-key (or ARBOR_CLI_TLS_*) is. */
  readonly tls?: CliTls;
  /** --user/--password (or ARBOR_USER/ARBOR_PASSWORD): authenticate every call. */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** PEM files for a TLS connection; a client certificate only where the cluster asks for one. */
export interface CliTls {
  /** The CA the members' certificates chain to; the system's roots when absent. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export type Command =
  | { readonly type: 'get'; readonly path: string; readonly serializable: boolean }
  | {
      readonly type: 'set';
      readonly path: string;
      readonly data: string | undefined;
      readonly version: number;
    }
  | {
      readonly type: 'create';
      readonly path: string;
      readonly data: string;
      readonly mode: CreateMode;
      readonly ttlMs: number | undefined;
      readonly parents: boolean;
    }
  | { readonly type: 'rm'; readonly path: string; readonly recursive: boolean; readonly version: number }
  | { readonly type: 'ls'; readonly path: string }
  | { readonly type: 'stat'; readonly path: string }
  | { readonly type: 'tree'; readonly path: string }
  | { readonly type: 'watch'; readonly path: string; readonly scope: WatchScope; readonly from: number }
  | { readonly type: 'status' }
  | { readonly type: 'members' }
  | {
      readonly type: 'member-add';
      readonly id: number;
      readonly name: string;
      readonly peerUrl: string;
      readonly clientUrl: string;
      readonly learner: boolean;
    }
  | { readonly type: 'member-promote'; readonly id: number }
  | { readonly type: 'member-remove'; readonly id: number }
  | { readonly type: 'leader-transfer'; readonly id: number }
  | { readonly type: 'auth-enable' }
  | { readonly type: 'auth-disable' }
  | { readonly type: 'auth-status' }
  | {
      readonly type: 'user-add';
      readonly name: string;
      readonly password: string | undefined;
      readonly roles: string[];
    }
  | { readonly type: 'user-delete'; readonly name: string }
  | { readonly type: 'user-passwd'; readonly name: string; readonly password: string | undefined }
  | { readonly type: 'user-grant' | 'user-revoke'; readonly name: string; readonly role: string }
  | { readonly type: 'user-list' }
  | { readonly type: 'acl-get'; readonly path: string }
  | {
      readonly type: 'acl-set';
      readonly path: string;
      readonly acl: AclEntry[];
      readonly version: number;
    }
  | { readonly type: 'help'; readonly text: string }
  | { readonly type: 'server'; readonly argv: string[] };

export interface Parsed {
  readonly globals: Globals;
  readonly command: Command;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL_OPTIONS: Options = {
  endpoints: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

interface Spec {
  readonly usage: string;
  readonly summary: string;
  readonly options: Options;
  readonly optionHelp?: readonly string[];
}

const SPECS: Readonly<Record<string, Spec>> = {
  get: {
    usage: 'arbor get PATH [--serializable]',
    summary: "print a node's data",
    options: { serializable: { type: 'boolean' } },
    optionHelp: ['--serializable   read from the member directly (may be stale)'],
  },
  set: {
    usage: 'arbor set PATH [DATA] [--version N]',
    summary: "replace a node's data (DATA from stdin when omitted)",
    options: { version: { type: 'string' } },
    optionHelp: ['--version N      only if the node is at version N'],
  },
  create: {
    usage: 'arbor create PATH [DATA] [--sequential] [--container] [--ttl MS] [-p|--parents]',
    summary: 'create a node',
    options: {
      sequential: { type: 'boolean', short: 's' },
      container: { type: 'boolean' },
      ttl: { type: 'string' },
      parents: { type: 'boolean', short: 'p' },
      ephemeral: { type: 'boolean', short: 'e' },
    },
    optionHelp: [
      '-s, --sequential append a monotonically increasing counter to the name',
      '--container      delete the node automatically once its last child is gone',
      '--ttl MS         delete the node when unmodified and childless for MS milliseconds',
      '-p, --parents    create missing parents (as persistent nodes)',
      '(ephemeral nodes need a live session and would vanish when this command exits)',
    ],
  },
  rm: {
    usage: 'arbor rm PATH [-r|--recursive] [--version N]',
    summary: 'delete a node',
    options: { recursive: { type: 'boolean', short: 'r' }, version: { type: 'string' } },
    optionHelp: [
      '-r, --recursive  delete the whole subtree',
      '--version N      only if the node is at version N',
    ],
  },
  ls: { usage: 'arbor ls PATH', summary: "list a node's children", options: {} },
  stat: { usage: 'arbor stat PATH', summary: "print a node's metadata", options: {} },
  tree: { usage: 'arbor tree [PATH]', summary: 'draw the hierarchy below PATH (default /)', options: {} },
  watch: {
    usage: 'arbor watch PATH [--scope node|children|subtree] [--from REVISION]',
    summary: 'stream changes until Ctrl-C',
    options: { scope: { type: 'string' }, from: { type: 'string' } },
    optionHelp: [
      '--scope S        node (default), children or subtree',
      '--from REVISION  replay history from REVISION',
    ],
  },
  status: { usage: 'arbor status', summary: 'show every member’s Raft status', options: {} },
  members: { usage: 'arbor members', summary: 'list the cluster members', options: {} },
  'member add': {
    usage: 'arbor member add ID NAME --peer-url URL [--client-url HOST:PORT] [--learner]',
    summary: 'add a member (recommended: --learner, then `member promote`)',
    options: {
      'peer-url': { type: 'string' },
      'client-url': { type: 'string' },
      learner: { type: 'boolean' },
    },
  },
  'member promote': { usage: 'arbor member promote ID', summary: 'promote a learner to voter', options: {} },
  'member remove': { usage: 'arbor member remove ID', summary: 'remove a member', options: {} },
  'leader transfer': {
    usage: 'arbor leader transfer [ID]',
    summary: 'move leadership (default: the most up-to-date other voter)',
    options: {},
  },
  'auth enable': {
    usage: 'arbor auth enable',
    summary: 'enforce ACLs and roles (refused unless a user has the admin role)',
    options: {},
  },
  'auth disable': { usage: 'arbor auth disable', summary: 'stop enforcing ACLs and roles', options: {} },
  'auth status': { usage: 'arbor auth status', summary: 'whether auth is on, and who you are', options: {} },
  'user add': {
    usage: 'arbor user add NAME [--new-password P] [--role ROLE]...',
    summary: 'add a user (password from stdin when --new-password is omitted)',
    options: { 'new-password': { type: 'string' }, role: { type: 'string', multiple: true } },
    optionHelp: ['--new-password P  the new user’s password', '--role ROLE       e.g. admin (repeatable)'],
  },
  'user delete': { usage: 'arbor user delete NAME', summary: 'delete a user', options: {} },
  'user passwd': {
    usage: 'arbor user passwd NAME [--new-password P]',
    summary: "change a user's password (from stdin when --new-password is omitted)",
    options: { 'new-password': { type: 'string' } },
  },
  'user grant': { usage: 'arbor user grant NAME ROLE', summary: 'give a user a role', options: {} },
  'user revoke': { usage: 'arbor user revoke NAME ROLE', summary: 'take a role from a user', options: {} },
  'user list': { usage: 'arbor user list', summary: 'list users and their roles (admin)', options: {} },
  'acl get': { usage: 'arbor acl get PATH', summary: "print a node's ACL", options: {} },
  'acl set': {
    usage: 'arbor acl set PATH SCHEME:ID:PERMS... [--version N]',
    summary: "replace a node's ACL, e.g. user:alice:cdrwa world:anyone:r x509:CN=svc:rw",
    options: { version: { type: 'string' } },
    optionHelp: [
      'PERMS            letters from c(reate) d(elete) r(ead) w(rite) a(dmin)',
      '--version N      only if the ACL is at version N (stat aclVersion)',
    ],
  },
  'snapshot save': {
    usage: 'arbor snapshot save FILE',
    summary: 'back up a consistent snapshot of the tree (see `arbor snapshot --help`)',
    options: {},
  },
  'snapshot restore': {
    usage: 'arbor snapshot restore FILE --data-dir DIR --initial-cluster ...',
    summary: 'seed a member of a new cluster from a snapshot',
    options: {},
  },
  certs: {
    usage: 'arbor certs [--out DIR] [--members m1,m2,m3] [--hosts ...]',
    summary: 'make a cluster CA and member/client certificates (see `arbor certs --help`)',
    options: {},
  },
  server: {
    usage: 'arbor server ...',
    summary: 'run an Arbor member (see `arbor server --help`)',
    options: {},
  },
};

const GLOBAL_HELP = [
  'Global options:',
  '  --endpoints A,B,C  members as host:port (default $ARBOR_ENDPOINTS or ' +
    DEFAULT_ENDPOINTS.join(',') +
    ')',
  '  --json             machine-readable output',
  '  --timeout MS       deadline for each call, including retries',
  "  --tls-ca FILE      use TLS, trusting the members' CA (PEM) (default $ARBOR_CLI_TLS_CA)",
  '  --tls-cert FILE    client certificate (PEM) for clusters that require one (default $ARBOR_CLI_TLS_CERT)',
  '  --tls-key FILE     private key of --tls-cert (default $ARBOR_CLI_TLS_KEY)',
  '  --user NAME        authenticate as NAME (default $ARBOR_USER)',
  '  --password P       password of --user (default $ARBOR_PASSWORD)',
  '  -h, --help         help for a command',
];

export function mainHelp(): string {
  const width = Math.max(...Object.values(SPECS).map((s) => s.usage.length));
  return [
    'Usage: arbor COMMAND [ARGS] [OPTIONS]',
    '',
    'Commands:',
    ...Object.values(SPECS).map((s) => `  ${s.usage.padEnd(width)}  ${s.summary}`),
    '',
    ...GLOBAL_HELP,
  ].join('\n');
}

export function commandHelp(name: string): string {
  const spec = SPECS[name];
  if (!spec) return mainHelp();
  return [
    `Usage: ${spec.usage}`,
    '',
    spec.summary,
    ...(spec.optionHelp ? ['', 'Options:', ...spec.optionHelp.map((l) => `  ${l}`)] : []),
    '',
    ...GLOBAL_HELP,
  ].join('\n');
}

/** Global options that take a value, so their value is not mistaken for the command word. */
const VALUE_GLOBALS = new Set([
  '--endpoints',
  '--timeout',
  '--tls-ca',
  '--tls-cert',
  '--tls-key',
  '--user',
  '--password',
]);

function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const rest = [...argv];
  const words: string[] = [];
  let i = 0;
  const skipOptions = (): void => {
    while (i < rest.length && rest[i]!.startsWith('-')) i += VALUE_GLOBALS.has(rest[i]!) ? 2 : 1;
  };
  skipOptions();
  if (i < rest.length) {
    const first = rest.splice(i, 1)[0]!;
    words.push(first);
    // Two-word commands: `member add|promote|remove`, `leader transfer`, `auth …`, `user …`, `acl …`.
    if (['member', 'leader', 'auth', 'user', 'acl'].includes(first)) {
      skipOptions();
      if (i < rest.length) words.push(rest.splice(i, 1)[0]!);
    }
  }
  return { words, rest };
}

function int(name: string, v: string | undefined, min = 0): Result<number, string> {
  if (v === undefined) return err(`missing ${name}`);
  if (!/^-?\d+$/.test(v)) return err(`${name} must be an integer, got '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) return err(`${name} must be an integer >= ${min}, got '${v}'`);
  return ok(n);
}

function path(v: string | undefined): Result<string, string> {
  if (v === undefined) return err('missing PATH');
  if (!v.startsWith('/')) return err(`PATH must be absolute (start with /), got '${v}'`);
  return ok(v);
}

export function parseEndpoints(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map((x) => x.replace(/^(?:https?|grpc):\/\//, ''));
}

/** The TLS files from flags, else ARBOR_CLI_TLS_* (distinct from the server's ARBOR_TLS_*). */
function tlsFiles(
  str: (k: string) => string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Result<CliTls | undefined, string> {
  const pick = (flag: string, v: string): string | undefined => {
    const x = str(flag) ?? env[v];
    return x === '' ? undefined : x;
  };
  const ca = pick('tls-ca', 'ARBOR_CLI_TLS_CA');
  const cert = pick('tls-cert', 'ARBOR_CLI_TLS_CERT');
  const key = pick('tls-key', 'ARBOR_CLI_TLS_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    return err('--tls-cert and --tls-key go together (a client certificate and its private key)');
  }
  if (ca === undefined && cert === undefined) return ok(undefined);
  return ok({
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  });
}

/** Parse `arbor` arguments (without node and the script). Errors are usage messages. */
export function parseCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Result<Parsed, string> {
  // `arbor server ...` belongs entirely to the server's own parser.
  if (argv[0] === 'server') {
    return ok({
      globals: { endpoints: [], json: false, timeoutMs: undefined },
      command: { type: 'server', argv: argv.slice(1) },
    });
  }
  const { words, rest } = splitCommand(argv);
  const name = words.join(' ');
  const spec = SPECS[name];
  const defaults: Globals = {
    endpoints: parseEndpoints(env['ARBOR_ENDPOINTS'] ?? DEFAULT_ENDPOINTS.join(',')),
    json: false,
    timeoutMs: undefined,
  };
  if (!spec) {
    if (name === '' || name === 'help' || rest.includes('--help') || rest.includes('-h')) {
      return ok({ globals: defaults, command: { type: 'help', text: mainHelp() } });
    }
    return err(`unknown command '${name}'\n\n${mainHelp()}`);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return err(`${e instanceof Error ? e.message : String(e)}\n\n${commandHelp(name)}`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const str = (k: string): string | undefined => {
    const x = v[k];
    return typeof x === 'string' ? x : undefined;
  };
  const flag = (k: string): boolean => v[k] === true;
  if (flag('help')) return ok({ globals: defaults, command: { type: 'help', text: commandHelp(name) } });

  let timeoutMs: number | undefined;
  if (str('timeout') !== undefined) {
    const t = int('--timeout', str('timeout'), 1);
    if (!t.ok) return err(t.error);
    timeoutMs = t.value;
  }
  const endpoints = str('endpoints') !== undefined ? parseEndpoints(str('endpoints')!) : defaults.endpoints;
  if (endpoints.length === 0) return err('--endpoints is empty');
  const tls = tlsFiles(str, env);
  if (!tls.ok) return err(tls.error);
  const user = str('user') ?? env['ARBOR_USER'];
  const password = str('password') ?? env['ARBOR_PASSWORD'];
  if ((user === undefined || user === '') !== (password === undefined || password === '')) {
    return err('--user and --password go together (or ARBOR_USER and ARBOR_PASSWORD)');
  }
  const globals: Globals = {
    endpoints,
    json: flag('json'),
    timeoutMs,
    ...(tls.value === undefined ? {} : { tls: tls.value }),
    ...(user ? { auth: { user, password: password as string } } : {}),
  };

  const pos = parsed.positionals;
  const usage = (msg: string): Result<Parsed, string> => err(`${msg}\n\n${commandHelp(name)}`);
  const maxArgs = (n: number): string | undefined =>
    pos.length > n ? `unexpected argument '${pos[n]}'` : undefined;
  const done = (command: Command, allowed: number): Result<Parsed, string> => {
    const extra = maxArgs(allowed);
    return extra ? usage(extra) : ok({ globals, command });
  };
  const version = (): Result<number, string> =>
    str('version') === undefined ? ok(-1) : int('--version', str('version'));

  switch (name) {
    case 'get':
    case 'ls':
    case 'stat': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      if (name === 'get') return done({ type: 'get', path: p.value, serializable: flag('serializable') }, 1);
      return done({ type: name, path: p.value }, 1);
    }
    case 'tree': {
      const p = path(pos[0] ?? '/');
      if (!p.ok) return usage(p.error);
      return done({ type: 'tree', path: p.value }, 1);
    }
    case 'set': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      const ver = version();
      if (!ver.ok) return usage(ver.error);
      return done({ type: 'set', path: p.value, data: pos[1], version: ver.value }, 2);
    }
    case 'create': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      if (flag('ephemeral')) {
        return usage('--ephemeral needs a session that outlives the command; use the client library instead');
      }
      const kinds = [flag('sequential') && !str('ttl'), flag('container'), str('ttl') !== undefined].filter(
        Boolean,
      );
      if (kinds.length > 1) return usage('--container and --ttl exclude each other and --sequential');
      let ttlMs: number | undefined;
      let mode: CreateMode = flag('sequential') ? 'persistent-sequential' : 'persistent';
      if (flag('container')) mode = 'container';
      if (str('ttl') !== undefined) {
        const t = int('--ttl', str('ttl'), 1);
        if (!t.ok) return usage(t.error);
        ttlMs = t.value;
        mode = 'persistent-ttl';
      }
      return done(
        { type: 'create', path: p.value, data: pos[1] ?? '', mode, ttlMs, parents: flag('parents') },
        2,
      );
    }
    case 'auth enable':
      return done({ type: 'auth-enable' }, 0);
    case 'auth disable':
      return done({ type: 'auth-disable' }, 0);
    case 'auth status':
      return done({ type: 'auth-status' }, 0);
    case 'user list':
      return done({ type: 'user-list' }, 0);
    case 'user add':
    case 'user delete':
    case 'user passwd': {
      const userName = pos[0];
      if (userName === undefined) return usage('missing NAME');
      if (name === 'user delete') return done({ type: 'user-delete', name: userName }, 1);
      const pw = str('new-password');
      if (name === 'user passwd') return done({ type: 'user-passwd', name: userName, password: pw }, 1);
      const roles = (v['role'] as unknown as string[] | undefined) ?? [];
      return done({ type: 'user-add', name: userName, password: pw, roles }, 1);
    }
    case 'user grant':
    case 'user revoke': {
      const [userName, role] = pos;
      if (userName === undefined || role === undefined) return usage('missing NAME or ROLE');
      return done({ type: name === 'user grant' ? 'user-grant' : 'user-revoke', name: userName, role }, 2);
    }
    case 'acl get': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      return done({ type: 'acl-get', path: p.value }, 1);
    }
    case 'acl set': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      if (pos.length < 2) return usage('give at least one SCHEME:ID:PERMS entry');
      const acl: AclEntry[] = [];
      for (const e of pos.slice(1)) {
        const r = parseAclEntry(e);
        if (!r.ok) return usage(r.error);
        acl.push(r.value);
      }
      const ver = version();
      if (!ver.ok) return usage(ver.error);
      return ok({ globals, command: { type: 'acl-set', path: p.value, acl, version: ver.value } });
    }
    case 'rm': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      const ver = version();
      if (!ver.ok) return usage(ver.error);
      return done({ type: 'rm', path: p.value, recursive: flag('recursive'), version: ver.value }, 1);
    }
    case 'watch': {
      const p = path(pos[0]);
      if (!p.ok) return usage(p.error);
      const scope = str('scope') ?? 'node';
      if (scope !== 'node' && scope !== 'children' && scope !== 'subtree') {
        return usage(`--scope must be node, children or subtree, got '${scope}'`);
      }
      let from = 0;
      if (str('from') !== undefined) {
        const f = int('--from', str('from'), 1);
        if (!f.ok) return usage(f.error);
        from = f.value;
      }
      return done({ type: 'watch', path: p.value, scope, from }, 1);
    }
    case 'status':
    case 'members':
      return done({ type: name }, 0);
    case 'member add': {
      const id = int('ID', pos[0], 1);
      if (!id.ok) return usage(id.error);
      if (pos[1] === undefined) return usage('missing NAME');
      const peerUrl = str('peer-url');
      if (peerUrl === undefined) return usage('missing --peer-url');
      return done(
        {
          type: 'member-add',
          id: id.value,
          name: pos[1],
          peerUrl,
          clientUrl: str('client-url') ?? '',
          learner: flag('learner'),
        },
        2,
      );
    }
    case 'member promote':
    case 'member remove': {
      const id = int('ID', pos[0], 1);
      if (!id.ok) return usage(id.error);
      return done({ type: name === 'member promote' ? 'member-promote' : 'member-remove', id: id.value }, 1);
    }
    case 'leader transfer': {
      const id = pos[0] === undefined ? ok(0) : int('ID', pos[0], 1);
      if (!id.ok) return usage(id.error);
      return done({ type: 'leader-transfer', id: id.value }, 1);
    }
    default:
      return err(`unknown command '${name}'`);
  }
}
