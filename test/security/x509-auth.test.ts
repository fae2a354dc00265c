/**
 * x509 identities against real member processes: a 3-member cluster with TLS on the client port
 * and --tls-client-auth, auth enabled. A znode whose ACL grants READ+WRITE only to
 * `x509:<subject of alice's certificate>` is read and written by a client presenting that
 * certificate, on every member and over both transports; a client presenting bob's certificate is
 * refused with PERMISSION_DENIED, and its watches never deliver the node's events. Also pins the
 * exact subject string a member derives from a certificate (docs/security.md, "Identities").
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArborClient } from '../../src/client/client.js';
import { PermissionDeniedError } from '../../src/client/errors.js';
import { Perms, type AclEntry, type WatchEvent } from '../../src/client/types.js';
import type { Watcher } from '../../src/client/watch.js';
import { makeCerts } from '../../src/security/certs.js';
import { TestCluster, until } from '../integration/harness.js';

let dir: string;
let c: TestCluster;
const clients: ArborClient[] = [];
const file = (name: string): string => path.join(dir, name);

/** What `makeCerts` puts in a client certificate's subject, as the member renders it. */
const ALICE = 'x509:CN=alice';
const BOB = 'x509:CN=bob';
const ALICE_ONLY: AclEntry[] = [{ scheme: 'x509', id: 'CN=alice', perms: Perms.read | Perms.write }];

function tlsAs(cert: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    fs.readFileSync(file('ca.crt')),
    fs.readFileSync(file(`${cert}.key`)),
    fs.readFileSync(file(`${cert}.crt`)),
  );
}

/** A client presenting `cert` (a file stem in the certificate directory) to the given members. */
function client(
  cert: string,
  ids: readonly number[] = [1, 2, 3],
  extra: { user?: string; password?: string; transport?: 'stream' | 'unary' } = {},
): ArborClient {
  const a = new ArborClient({
    endpoints: ids.map((id) => c.member(id).clientAddr),
    credentials: tlsAs(cert),
    backoff: { baseMs: 20, maxMs: 200 },
    ...extra,
  });
  clients.push(a);
  return a;
}

/** Collects everything a watcher delivers, and how it ended. */
function collect(w: Watcher): { events: WatchEvent[]; error: unknown; done: boolean } {
  const out = { events: [] as WatchEvent[], error: undefined as unknown, done: false };
  void (async () => {
    try {
      for await (const e of w) out.events.push(e);
    } catch (e) {
      out.error = e;
    } finally {
      out.done = true;
    }
  })();
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-x509-'));
  makeCerts({
    out: dir,
    members: ['member'],
    hosts: ['127.0.0.1', 'localhost'],
    clients: ['alice', 'bob', 'admin'],
    days: 2,
  });
  c = await TestCluster.start({
    size: 3,
    extraArgs: [
      ...['--tls-cert', file('member.crt'), '--tls-key', file('member.key')],
      ...['--tls-client-auth', '--tls-ca', file('ca.crt')],
      ...['--peer-tls-cert', file('member.crt'), '--peer-tls-key', file('member.key')],
      ...['--peer-tls-ca', file('ca.crt')],
    ],
    clientCredentials: tlsAs('client-admin'),
  });
  // Before auth: anyone with a certificate may manage users. Then an admin, and auth on.
  const setup = client('client-admin');
  await setup.addUser('root', 'root-pw', ['admin']);
  await setup.authEnable();
  const root = client('client-admin', [1, 2, 3], { user: 'root', password: 'root-pw' });
  await root.create('/shared', 'parent');
  await root.create('/shared/alice-only', 'v0', { acl: ALICE_ONLY });
}, 90_000);

afterAll(async () => {
  for (const a of clients) await a.close();
  await c?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('x509 identities on a 3-member cluster with --tls-client-auth', () => {
  it('a member derives x509:<subject> from the presented certificate, on every member', async () => {
    for (const id of [1, 2, 3]) {
      expect((await client('client-alice', [id]).authStatus()).identity).toEqual([ALICE]);
      expect((await client('client-bob', [id]).authStatus()).identity).toEqual([BOB]);
      // A certificate and a token together: both principals.
      const both = client('client-admin', [id], { user: 'root', password: 'root-pw' });
      expect((await both.authStatus()).identity).toEqual(['x509:CN=admin', 'user:root']);
    }
  });

  it('the subject is rendered in certificate order, OpenSSL short names, repeats grouped, values escaped', async () => {
    // A richer subject than `arbor certs` makes, issued by the same CA with the same openssl.
    const subj = '/C=US/O=Example, Inc./OU=b/CN=carol/OU=a/emailAddress=carol@example.com';
    const ssl = (args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    ssl([
      ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', 'client-carol.key', '-out', 'carol.csr', '-subj', subj],
    ]);
    fs.writeFileSync(file('carol.ext'), 'extendedKeyUsage=clientAuth\n');
    ssl([
      ...['x509', '-req', '-in', 'carol.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-days', '1', '-sha256', '-extfile', 'carol.ext', '-out', 'client-carol.crt'],
    ]);
    const carol = client('client-carol', [1]);
    expect((await carol.authStatus()).identity).toEqual([
      'x509:C=US,O=Example\\, Inc.,OU=b,OU=a,CN=carol,emailAddress=carol@example.com',
    ]);
  });

  it.each(['stream', 'unary'] as const)(
    'the certificate the ACL names may read and write, on every member (%s)',
    async (transport) => {
      for (const id of [1, 2, 3]) {
        const alice = client('client-alice', [id], { transport });
        const written = `alice-${transport}@${id}`;
        const { stat } = await alice.set('/shared/alice-only', written);
        expect(stat.version).toBeGreaterThan(0);
        // A linearizable read on this member sees the write, wherever it was applied first.
        expect((await alice.get('/shared/alice-only')).data.toString()).toBe(written);
        expect((await alice.exists('/shared/alice-only')).exists).toBe(true);
      }
    },
  );

  it.each(['stream', 'unary'] as const)(
    'another certificate is refused with PERMISSION_DENIED, on every member (%s)',
    async (transport) => {
      const before = (await client('client-alice', [1]).get('/shared/alice-only')).data.toString();
      for (const id of [1, 2, 3]) {
        const bob = client('client-bob', [id], { transport });
        for (const op of [
          () => bob.get('/shared/alice-only'),
          () => bob.exists('/shared/alice-only'),
          () => bob.set('/shared/alice-only', 'bob was here'),
          () => bob.getAcl('/shared/alice-only'),
        ]) {
          const e = await op().then(
            () => undefined,
            (x: unknown) => x,
          );
          expect(e).toBeInstanceOf(PermissionDeniedError);
          expect((e as Error).message).toContain(`${BOB} lacks`);
        }
      }
      // Nothing bob tried changed the node.
      expect((await client('client-alice', [1]).get('/shared/alice-only')).data.toString()).toBe(before);
    },
  );

  it("a watch by the other certificate never receives the node's events", async () => {
    const bob = client('client-bob', [2]);
    // Watching the node itself is refused outright.
    const direct = collect(bob.watch('/shared/alice-only'));
    await until(() => direct.done, 15_000, "bob's direct watch to be refused");
    expect(direct.error).toBeInstanceOf(PermissionDeniedError);
    // A subtree watch on the (world-readable) parent is allowed, but filtered.
    const sub = bob.watch('/shared', { scope: 'subtree' });
    const seen = collect(sub);
    // Alice, watching the same node, proves the events exist.
    const aliceWatch = client('client-alice', [3]).watch('/shared/alice-only');
    const aliceSeen = collect(aliceWatch);
    await until(() => sub.lastRevision > 0 && aliceWatch.lastRevision > 0, 15_000, 'both watches to open');
    const alice = client('client-alice', [1]);
    await alice.set('/shared/alice-only', 'secret-1');
    await alice.set('/shared/alice-only', 'secret-2');
    // A marker after the secret writes: once bob has it, he has had every chance to see them.
    const admin = client('client-admin', [1], { user: 'root', password: 'root-pw' });
    await admin.create('/shared/marker', 'm');
    await until(
      () => seen.events.some((e) => e.path === '/shared/marker'),
      15_000,
      "bob's subtree watch to see the marker",
    );
    await until(
      () => aliceSeen.events.filter((e) => e.path === '/shared/alice-only').length >= 2,
      15_000,
      "alice's watch to see both writes",
    );
    expect(aliceSeen.events.map((e) => e.data.toString())).toEqual(['secret-1', 'secret-2']);
    expect(seen.events.map((e) => [e.type, e.path])).toEqual([['created', '/shared/marker']]);
    expect(seen.error).toBeUndefined();
    // Replay from history is filtered the same way.
    const replay = collect(bob.watch('/shared', { scope: 'subtree', startRevision: 1 }));
    await until(
      () => replay.events.some((e) => e.path === '/shared/marker'),
      15_000,
      "bob's replay to reach the marker",
    );
    expect(replay.events.filter((e) => e.path === '/shared/alice-only')).toEqual([]);
  });
});
