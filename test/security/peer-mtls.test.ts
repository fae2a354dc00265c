/**
 * The peer port speaks mutual TLS: members holding certificates from the cluster CA talk; a peer
 * with a certificate from another CA, an expired certificate or none at all cannot deliver a
 * single message or forward a request.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../../src/security/certs.js';
import { loadTls, peerCredentials } from '../../src/security/tls.js';
import { nodeId } from '../../src/util/brand.js';
import { PeerError } from '../../src/transport/index.js';
import { enc, startMember, type Member } from '../transport/harness.js';
import { rawStatus } from '../integration/harness.js';
import { skewedCommand } from '../chaos/net.js';

let dir: string;
const started: Member[] = [];

function creds(d: string, name: string): ReturnType<typeof peerCredentials> {
  return peerCredentials(
    loadTls(
      { cert: path.join(d, `${name}.crt`), key: path.join(d, `${name}.key`), ca: path.join(d, 'ca.crt') },
      'peer',
    ),
  );
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-mtls-'));
  makeCerts({
    out: path.join(dir, 'cluster'),
    members: ['m1', 'm2'],
    hosts: ['127.0.0.1', 'localhost'],
    clients: [],
    days: 2,
  });
  makeCerts({
    out: path.join(dir, 'rogue'),
    members: ['m3'],
    hosts: ['127.0.0.1', 'localhost'],
    clients: [],
    days: 2,
  });
  // A certificate from the right CA that expired yesterday (issued "three days ago" for one day).
  const c = path.join(dir, 'cluster');
  execFileSync(
    'openssl',
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'old.key'],
    { cwd: c },
  );
  execFileSync('openssl', ['req', '-new', '-key', 'old.key', '-subj', '/CN=old', '-out', 'old.csr'], {
    cwd: c,
  });
  fs.writeFileSync(
    path.join(c, 'old.ext'),
    'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n',
  );
  // libfaketime preloaded, not the `faketime` wrapper: the wrapper names a semaphore after its
  // pid in /dev/shm and fails ("sem_open: File exists") when a stale one from a killed wrapper
  // has the same pid.
  const [env, ...args] = skewedCommand('-3d', [
    'openssl',
    'x509',
    '-req',
    '-in',
    'old.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-days',
    '1',
    '-extfile',
    'old.ext',
    '-out',
    'old.crt',
  ]);
  execFileSync(env!, args, { cwd: c });
});

afterAll(async () => {
  for (const m of started) await m.transport.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function member(id: number, d: string, name: string): Promise<Member> {
  const m = await startMember(id, { credentials: creds(path.join(dir, d), name) });
  started.push(m);
  return m;
}

async function settle(ms = 1500): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

describe('peer mTLS', () => {
  it('members with certificates from the cluster CA exchange messages and forwards', async () => {
    const a = await member(1, 'cluster', 'm1');
    const b = await member(2, 'cluster', 'm2');
    a.transport.setPeers(new Map([[nodeId(2), b.addr()]]));
    a.transport.send(nodeId(2), enc('hello'));
    const deadline = Date.now() + 10_000;
    while (b.recorder.messages().length === 0 && Date.now() < deadline) await settle(20);
    expect(b.recorder.messages(nodeId(1))).toEqual(['hello']);
    expect(Buffer.from(await a.transport.forward(nodeId(2), 'k', enc('x'), 5000)).toString()).toBe('k:x');
  });

  it.each([
    ['a certificate from another CA', 'rogue', 'm3'],
    ['an expired certificate from the cluster CA', 'cluster', 'old'],
  ])('refuses a peer holding %s', async (_what, d, name) => {
    const target = await member(1, 'cluster', 'm1');
    const intruder = await member(3, d, name);
    intruder.transport.setPeers(new Map([[nodeId(1), target.addr()]]));
    for (let i = 0; i < 5; i++) intruder.transport.send(nodeId(1), enc(`forged-${i}`));
    const err = await intruder.transport.forward(nodeId(1), 'k', enc('x'), 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe(grpc.status.UNAVAILABLE);
    await settle();
    expect(target.recorder.batches).toEqual([]);
  });

  it('refuses a TLS client that presents no certificate', async () => {
    const target = await member(1, 'cluster', 'm1');
    const ca = fs.readFileSync(path.join(dir, 'cluster', 'ca.crt'));
    const code = await rawStatus(
      target.addr(),
      grpc.credentials.createSsl(ca),
      '/arbor.peer.v1.Peer/Forward',
    );
    expect(code).toBe(grpc.status.UNAVAILABLE);
    expect(target.recorder.batches).toEqual([]);
  });

  it('refuses a plaintext client', async () => {
    const target = await member(1, 'cluster', 'm1');
    const code = await rawStatus(
      target.addr(),
      grpc.credentials.createInsecure(),
      '/arbor.peer.v1.Peer/Forward',
    );
    expect(code).toBe(grpc.status.UNAVAILABLE);
  });
});
