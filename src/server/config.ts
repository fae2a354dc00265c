/**
 * `arbor server` configuration: every flag is also an ARBOR_* environment variable (flag wins).
 * Parsing is pure and returns a typed error value that says what to fix.
 */
import type { NodeId } from '../util/brand.js';
import { nodeId } from '../util/brand.js';
import type { Result } from '../util/result.js';
import { err, ok } from '../util/result.js';
import type { MemberInfo } from './address-book.js';

export interface ServerConfig {
  readonly id: NodeId;
  readonly name: string;
  readonly clusterId: string;
  /** Where clients reach this member (recorded in the member list when --initial-cluster has none). */
  readonly clientAddr: string;
  /** Where the other members reach this one: must equal this member's --initial-cluster entry. */
  readonly peerAddr: string;
  /** The address the public gRPC API binds; differs from clientAddr behind NAT or in containers. */
  readonly listenClientAddr: string;
  /** The address the peer server binds, e.g. 0.0.0.0:4191 while peers dial arbor1:4191. */
  readonly listenPeerAddr: string;
  readonly httpAddr: string;
  readonly initialCluster: ReadonlyMap<NodeId, MemberInfo>;
  readonly dataDir: string;
  readonly join: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxDataBytes: number;
  /** Bounds on clients and messages (docs/security.md "Limits"); the tree ones must match on every member. */
  readonly limits: ConfigLimits;
  readonly snapshotEntries: number;
  readonly requestTimeoutMs: number;
  readonly watchProgressMs: number;
  /** Lifetime of tokens from Authenticate; clients re-authenticate before it runs out. */
  readonly authTokenTtlMs: number;
  readonly logLevel: string;
  /** TLS on the client port (certificate, key, and the CA for client certificates if required). */
  readonly tls:
    | { readonly cert: string; readonly key: string; readonly ca?: string; readonly clientAuth: boolean }
    | undefined;
  /** Mutual TLS between members. */
  readonly peerTls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
}

export interface ConfigLimits {
  readonly maxPathBytes: number;
  readonly maxPathDepth: number;
  readonly maxChildren: number;
  readonly maxMultiOps: number;
  readonly maxRequestDataBytes: number;
  readonly maxMessageBytes: number;
  readonly peerMaxMessageBytes: number;
  readonly maxRequestsPerConnection: number;
  readonly maxWatchesPerConnection: number;
  readonly maxSessionsPerClient: number;
}

/** Room in a message for everything around the znode data: path, stat, framing. */
const MESSAGE_RESERVE_BYTES = 65_536;

interface FlagSpec {
  readonly name: string;
  readonly help: string;
  readonly def?: string;
  readonly bool?: boolean;
}

export const FLAGS: readonly FlagSpec[] = [
  { name: 'id', help: "this member's id, a positive integer unique in the cluster (required)" },
  { name: 'name', help: 'a human name for this member', def: 'arbor-<id>' },
  { name: 'cluster-id', help: 'members refuse peer traffic from another cluster id', def: 'arbor' },
  { name: 'client-addr', help: 'host:port serving the public gRPC API', def: '127.0.0.1:4181' },
  { name: 'peer-addr', help: 'host:port for traffic between members', def: '127.0.0.1:4191' },
  { name: 'http-addr', help: 'host:port for /metrics, /healthz and /readyz', def: '127.0.0.1:4201' },
  {
    name: 'listen-client-addr',
    help: 'host:port the public gRPC API binds, when it differs from the advertised --client-addr',
    def: 'the value of --client-addr',
  },
  {
    name: 'listen-peer-addr',
    help: 'host:port the peer server binds (e.g. 0.0.0.0:4191), when it differs from --peer-addr',
    def: 'the value of --peer-addr',
  },
  {
    name: 'initial-cluster',
    help:
      'the founding members as "1=host:port,2=host:port,3=host:port" (peer addresses); ' +
      'optionally "1=peerhost:port|clienthost:port" to record client addresses too (required)',
  },
  { name: 'data-dir', help: 'where this member keeps its data', def: './data/m<id>' },
  {
    name: 'join',
    help: 'start as a new member of an existing cluster (add it with `arbor member add` first)',
    bool: true,
  },
  { name: 'tls-cert', help: 'certificate (PEM) for TLS on the client port; needs --tls-key' },
  { name: 'tls-key', help: 'private key (PEM) of --tls-cert' },
  { name: 'tls-ca', help: 'CA (PEM) that client certificates must chain to; needs --tls-client-auth' },
  {
    name: 'tls-client-auth',
    help: 'require a client certificate from --tls-ca on the client port',
    bool: true,
  },
  {
    name: 'peer-tls-cert',
    help: 'certificate (PEM) of this member for mutual TLS between members; needs --peer-tls-key and --peer-tls-ca',
  },
  { name: 'peer-tls-key', help: 'private key (PEM) of --peer-tls-cert' },
  { name: 'peer-tls-ca', help: 'the cluster CA (PEM): only members with a certificate from it may connect' },
  {
    name: 'require-tls',
    help: 'refuse to start unless both the client and the peer port use TLS',
    bool: true,
  },
  { name: 'tick-ms', help: 'milliseconds per Raft tick', def: '50' },
  {
    name: 'election-ticks',
    help: 'ticks without a leader before an election (randomised up to 2x)',
    def: '6',
  },
  { name: 'heartbeat-ticks', help: 'ticks between leader heartbeats', def: '1' },
  {
    name: 'max-data-bytes',
    help: 'largest znode payload in bytes (a tree limit: give every member the same value)',
    def: '1048576',
  },
  // Tree limits decide whether a replicated command fails, so replicas that disagree diverge.
  {
    name: 'max-path-bytes',
    help: 'longest znode path in UTF-8 bytes (a tree limit: give every member the same value)',
    def: '4096',
  },
  {
    name: 'max-path-depth',
    help: 'most segments in a znode path (a tree limit: give every member the same value)',
    def: '256',
  },
  {
    name: 'max-children',
    help: 'most children of one znode (a tree limit: give every member the same value)',
    def: '1000000',
  },
  {
    name: 'max-multi-ops',
    help: 'most operations in one Multi (a tree limit: give every member the same value)',
    def: '1000',
  },
  {
    name: 'max-request-data-bytes',
    help: 'most znode data, summed over its operations, in one request (checked before Raft)',
    def: '2 x --max-data-bytes',
  },
  {
    name: 'max-message-bytes',
    help: 'largest gRPC message received or sent on the client port; at least --max-data-bytes + 65536',
    def: '4194304 or 2 x --max-data-bytes + 65536, whichever is larger',
  },
  {
    name: 'peer-max-message-bytes',
    help: 'largest gRPC message between members; at least --max-message-bytes + 65536',
    def: '67108864',
  },
  {
    name: 'max-requests-per-connection',
    help: 'requests in flight on one client connection, unary and pipelined together (RESOURCE_EXHAUSTED beyond)',
    def: '10000',
  },
  {
    name: 'max-watches-per-connection',
    help: 'open watches on one client connection (RESOURCE_EXHAUSTED beyond)',
    def: '10000',
  },
  {
    name: 'max-sessions-per-client',
    help: 'live sessions one client (its identity while auth is on, else its IP address) may open through this member (RESOURCE_EXHAUSTED beyond)',
    def: '1024',
  },
  { name: 'snapshot-entries', help: 'compact the log after this many applied entries', def: '10000' },
  { name: 'request-timeout-ms', help: 'deadline for requests that carry none', def: '10000' },
  {
    name: 'watch-progress-ms',
    help: 'an idle watch stream gets a progress response with the current revision this often',
    def: '10000',
  },
  {
    name: 'auth-token-ttl-ms',
    help: 'how long a token from Authenticate is valid (clients re-authenticate before it expires)',
    def: '600000',
  },
  { name: 'log-level', help: 'pino log level (trace, debug, info, warn, error)', def: 'info' },
];

export function envName(flag: string): string {
  return 'ARBOR_' + flag.toUpperCase().replace(/-/g, '_');
}

export function helpText(): string {
  const lines = [
    'Usage: arbor server [flags]',
    '',
    'Every flag can also be set by the environment variable shown.',
    '',
  ];
  for (const f of FLAGS) {
    const def = f.bool ? ' (default: false)' : f.def !== undefined ? ` (default: ${f.def})` : '';
    lines.push(`  --${f.name}${f.bool ? '' : ' VALUE'}`.padEnd(30) + `${envName(f.name)}`);
    lines.push(`      ${f.help}${def}`);
  }
  return lines.join('\n');
}

/** Raw values from argv and the environment: flags win over environment variables. */
export function collectFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Result<Map<string, string>, string> {
  const known = new Map(FLAGS.map((f) => [f.name, f]));
  const out = new Map<string, string>();
  for (const f of FLAGS) {
    const v = env[envName(f.name)];
    if (v === undefined || v === '') continue;
    if (f.bool && v !== 'true' && v !== 'false') {
      return err(`${envName(f.name)} must be true or false: got '${v}'`);
    }
    out.set(f.name, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--'))
      return err(`unexpected argument '${a}': flags look like --name value (see --help)`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = known.get(name);
    if (!spec) return err(`unknown flag --${name} (see arbor server --help)`);
    if (spec.bool) {
      const v = eq < 0 ? 'true' : a.slice(eq + 1);
      if (v !== 'true' && v !== 'false') return err(`--${name} takes no value or =true/=false: got '${v}'`);
      out.set(name, v);
      continue;
    }
    let v: string | undefined;
    if (eq >= 0) v = a.slice(eq + 1);
    else {
      v = argv[i + 1];
      i++;
    }
    if (v === undefined || v.startsWith('--')) return err(`--${name} needs a value`);
    out.set(name, v);
  }
  return ok(out);
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[^\s:/|,=]+):(\d{1,5})$/;

export function parseHostPort(s: string, what: string): Result<string, string> {
  const m = HOST_PORT.exec(s);
  if (!m || Number(m[2]) > 65535) return err(`${what} must be host:port: got '${s}'`);
  return ok(s);
}

export function parseInitialCluster(s: string): Result<Map<NodeId, MemberInfo>, string> {
  const out = new Map<NodeId, MemberInfo>();
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq < 0) return err(`--initial-cluster entry '${part}' must look like id=host:port`);
    const idRaw = part.slice(0, eq);
    const id = Number(idRaw);
    if (!Number.isSafeInteger(id) || id <= 0)
      return err(`--initial-cluster id '${idRaw}' must be a positive integer`);
    const [peer = '', client = ''] = part.slice(eq + 1).split('|');
    const p = parseHostPort(peer, `--initial-cluster address of member ${id}`);
    if (!p.ok) return p;
    if (client !== '') {
      const c = parseHostPort(client, `--initial-cluster client address of member ${id}`);
      if (!c.ok) return c;
    }
    if (out.has(nodeId(id))) return err(`--initial-cluster names member ${id} twice`);
    out.set(nodeId(id), { id: nodeId(id), name: `arbor-${id}`, peerUrl: peer, clientUrl: client });
  }
  if (out.size === 0) return err('--initial-cluster is empty: list the founding members as id=host:port,...');
  return ok(out);
}

function posInt(flags: Map<string, string>, name: string, min = 1): Result<number, string> {
  const raw = flags.get(name) ?? FLAGS.find((f) => f.name === name)?.def ?? '';
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) return err(`--${name} must be an integer >= ${min}: got '${raw}'`);
  return ok(n);
}

/** The limits whose defaults depend on --max-data-bytes, checked against each other. */
function parseLimits(f: Map<string, string>, ints: Record<string, number>): Result<ConfigLimits, string> {
  const maxData = ints['max-data-bytes'] as number;
  const derived = (name: string, def: number): Result<number, string> =>
    f.has(name) ? posInt(f, name, 1) : ok(def);
  const reqData = derived('max-request-data-bytes', 2 * maxData);
  if (!reqData.ok) return reqData;
  const msg = derived('max-message-bytes', Math.max(4 * 1024 * 1024, 2 * maxData + MESSAGE_RESERVE_BYTES));
  if (!msg.ok) return msg;
  const peerMsg = ints['peer-max-message-bytes'] as number;
  if (reqData.value < maxData) {
    return err(
      `--max-request-data-bytes (${reqData.value}) is below --max-data-bytes (${maxData}): one full znode could never be written; raise it`,
    );
  }
  if (msg.value < maxData + MESSAGE_RESERVE_BYTES) {
    return err(
      `--max-message-bytes (${msg.value}) must be at least --max-data-bytes + ${MESSAGE_RESERVE_BYTES} (${maxData + MESSAGE_RESERVE_BYTES}) so a full znode fits in a message`,
    );
  }
  // Every client write crosses the peer port (forwarded to the leader, replicated as an entry).
  if (peerMsg < msg.value + MESSAGE_RESERVE_BYTES) {
    return err(
      `--peer-max-message-bytes (${peerMsg}) must be at least --max-message-bytes + ${MESSAGE_RESERVE_BYTES} (${msg.value + MESSAGE_RESERVE_BYTES}): a client write must fit between members`,
    );
  }
  return ok({
    maxPathBytes: ints['max-path-bytes'] as number,
    maxPathDepth: ints['max-path-depth'] as number,
    maxChildren: ints['max-children'] as number,
    maxMultiOps: ints['max-multi-ops'] as number,
    maxRequestDataBytes: reqData.value,
    maxMessageBytes: msg.value,
    peerMaxMessageBytes: peerMsg,
    maxRequestsPerConnection: ints['max-requests-per-connection'] as number,
    maxWatchesPerConnection: ints['max-watches-per-connection'] as number,
    maxSessionsPerClient: ints['max-sessions-per-client'] as number,
  });
}

export function parseServerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Result<ServerConfig, string> {
  const c = collectFlags(argv, env);
  if (!c.ok) return c;
  const f = c.value;
  const idRaw = f.get('id');
  if (idRaw === undefined) return err('--id is required (a positive integer unique in the cluster)');
  const id = Number(idRaw);
  if (!Number.isSafeInteger(id) || id <= 0) return err(`--id must be a positive integer: got '${idRaw}'`);
  const icRaw = f.get('initial-cluster');
  if (icRaw === undefined)
    return err('--initial-cluster is required, e.g. "1=127.0.0.1:4191,2=127.0.0.1:4192,3=127.0.0.1:4193"');
  const ic = parseInitialCluster(icRaw);
  if (!ic.ok) return ic;
  const join = f.get('join') === 'true';
  const self = ic.value.get(nodeId(id));
  const peerAddr = f.get('peer-addr') ?? self?.peerUrl ?? '127.0.0.1:4191';
  if (!join && !self)
    return err(`--initial-cluster does not list this member's id ${id}; add it or use --join`);
  if (join && self)
    return err(
      `--join starts a NEW member, but --initial-cluster already lists id ${id}: drop --join or pick a new id`,
    );
  const addrs: [string, string][] = [
    ['client-addr', f.get('client-addr') ?? '127.0.0.1:4181'],
    ['peer-addr', peerAddr],
    ['http-addr', f.get('http-addr') ?? '127.0.0.1:4201'],
  ];
  for (const [n, v] of addrs) {
    const r = parseHostPort(v, `--${n}`);
    if (!r.ok) return r;
  }
  const distinct = new Set(addrs.map(([, v]) => v));
  if (distinct.size !== addrs.length)
    return err('--client-addr, --peer-addr and --http-addr must all differ');
  // Containers: peers dial the advertised name (arbor1:4191) while the server binds 0.0.0.0:4191.
  const listen: [string, string][] = [
    ['listen-client-addr', f.get('listen-client-addr') ?? (addrs[0]?.[1] as string)],
    ['listen-peer-addr', f.get('listen-peer-addr') ?? peerAddr],
    ['http-addr', addrs[2]?.[1] as string],
  ];
  for (const [n, v] of listen) {
    const r = parseHostPort(v, `--${n}`);
    if (!r.ok) return r;
  }
  if (new Set(listen.map(([, v]) => v)).size !== listen.length)
    return err('the client, peer and HTTP servers would bind the same address: give each its own port');
  if (self && self.peerUrl !== peerAddr) {
    return err(
      `--peer-addr ${peerAddr} contradicts --initial-cluster, which gives member ${id} the peer address ${self.peerUrl}`,
    );
  }
  const ints: Record<string, number> = {};
  for (const [name, min] of [
    ['tick-ms', 1],
    ['election-ticks', 2],
    ['heartbeat-ticks', 1],
    ['max-data-bytes', 0],
    ['snapshot-entries', 10],
    ['request-timeout-ms', 1],
    ['watch-progress-ms', 100],
    ['auth-token-ttl-ms', 1000],
    ['max-path-bytes', 2],
    ['max-path-depth', 1],
    ['max-children', 1],
    ['max-multi-ops', 1],
    ['peer-max-message-bytes', 1024],
    ['max-requests-per-connection', 1],
    ['max-watches-per-connection', 1],
    ['max-sessions-per-client', 1],
  ] as const) {
    const r = posInt(f, name, min);
    if (!r.ok) return r;
    ints[name] = r.value;
  }
  if ((ints['heartbeat-ticks'] as number) >= (ints['election-ticks'] as number)) {
    return err('--heartbeat-ticks must be smaller than --election-ticks');
  }
  const limits = parseLimits(f, ints);
  if (!limits.ok) return limits;
  const name = f.get('name') ?? `arbor-${id}`;
  const clientAddr = addrs[0]?.[1] as string;
  const book = new Map(ic.value);
  if (self) book.set(nodeId(id), { ...self, name, clientUrl: self.clientUrl || clientAddr });
  const tlsCert = f.get('tls-cert');
  const tlsKey = f.get('tls-key');
  const tlsCa = f.get('tls-ca');
  const clientAuth = f.get('tls-client-auth') === 'true';
  if ((tlsCert === undefined) !== (tlsKey === undefined)) return err('--tls-cert and --tls-key go together');
  if (clientAuth && (tlsCa === undefined || tlsCert === undefined)) {
    return err(
      '--tls-client-auth needs --tls-cert, --tls-key and --tls-ca (the CA client certificates must chain to)',
    );
  }
  if (tlsCa !== undefined && !clientAuth)
    return err('--tls-ca is only used with --tls-client-auth: add it or drop --tls-ca');
  const peer = ['peer-tls-cert', 'peer-tls-key', 'peer-tls-ca'].map((n) => f.get(n));
  const peerSet = peer.filter((v) => v !== undefined).length;
  if (peerSet !== 0 && peerSet !== 3)
    return err('--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together');
  const tls =
    tlsCert !== undefined && tlsKey !== undefined
      ? { cert: tlsCert, key: tlsKey, clientAuth, ...(tlsCa !== undefined ? { ca: tlsCa } : {}) }
      : undefined;
  const peerTls =
    peerSet === 3 ? { cert: peer[0] as string, key: peer[1] as string, ca: peer[2] as string } : undefined;
  if (f.get('require-tls') === 'true' && (tls === undefined || peerTls === undefined)) {
    return err(
      '--require-tls: configure TLS on the client port (--tls-cert/--tls-key) and mutual TLS between members (--peer-tls-*)',
    );
  }
  return ok({
    id: nodeId(id),
    name,
    clusterId: f.get('cluster-id') ?? 'arbor',
    clientAddr,
    peerAddr,
    listenClientAddr: listen[0]?.[1] as string,
    listenPeerAddr: listen[1]?.[1] as string,
    httpAddr: addrs[2]?.[1] as string,
    initialCluster: book,
    dataDir: f.get('data-dir') ?? `./data/m${id}`,
    join,
    tickMs: ints['tick-ms'] as number,
    electionTicks: ints['election-ticks'] as number,
    heartbeatTicks: ints['heartbeat-ticks'] as number,
    maxDataBytes: ints['max-data-bytes'] as number,
    limits: limits.value,
    snapshotEntries: ints['snapshot-entries'] as number,
    requestTimeoutMs: ints['request-timeout-ms'] as number,
    watchProgressMs: ints['watch-progress-ms'] as number,
    authTokenTtlMs: ints['auth-token-ttl-ms'] as number,
    logLevel: f.get('log-level') ?? 'info',
    tls,
    peerTls,
  });
}
