/**
 * A cluster with TLS on the client port and mutual TLS between members: clients with the CA
 * connect, plaintext clients cannot; with --tls-client-auth only clients holding a certificate
 * from the CA get in; --require-tls refuses to start without TLS.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../../src/security/certs.js';
import { SERVER_JS, TestCluster, call, converged, rawStatus } from '../integration/harness.js';

let dir: string;
const clusters: TestCluster[] = [];
const file = (name: string): string => path.join(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-tls-'));
  makeCerts({
    out: dir,
    members: ['member'],
    hosts: ['127.0.0.1', 'localhost'],
    clients: ['alice'],
    days: 2,
  });
});

afterAll(async () => {
  for (const c of clusters) await c.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const serverTls = (): string[] => [
  '--tls-cert',
  file('member.crt'),
  '--tls-key',
  file('member.key'),
  '--peer-tls-cert',
  file('member.crt'),
  '--peer-tls-key',
  file('member.key'),
  '--peer-tls-ca',
  file('ca.crt'),
  '--require-tls',
];

describe('TLS on both ports', () => {
  it('serves TLS clients, refuses plaintext ones, and replicates over mutual TLS', async () => {
    const ca = fs.readFileSync(file('ca.crt'));
    const c = await TestCluster.start({
      size: 3,
      extraArgs: serverTls(),
      clientCredentials: grpc.credentials.createSsl(ca),
    });
    clusters.push(c);
    const leader = await c.waitForLeader();
    await call(c.arbor(leader), 'Create', { path: '/secure', data: Buffer.from('s') });
    await converged(c, [1, 2, 3]);
    const other = [1, 2, 3].find((i) => i !== leader)!;
    expect((await call(c.arbor(other), 'Get', { path: '/secure' })).data.toString()).toBe('s');
    const code = await rawStatus(
      c.member(other).clientAddr,
      grpc.credentials.createInsecure(),
      '/arbor.v1.Arbor/Sync',
    );
    expect(code).toBe(grpc.status.UNAVAILABLE);
  });

  it('with --tls-client-auth, only clients with a certificate from the CA get in', async () => {
    const ca = fs.readFileSync(file('ca.crt'));
    const withCert = grpc.credentials.createSsl(
      ca,
      fs.readFileSync(file('client-alice.key')),
      fs.readFileSync(file('client-alice.crt')),
    );
    const c = await TestCluster.start({
      size: 3,
      extraArgs: [...serverTls(), '--tls-client-auth', '--tls-ca', file('ca.crt')],
      clientCredentials: withCert,
    });
    clusters.push(c);
    const leader = await c.waitForLeader();
    await call(c.arbor(leader), 'Create', { path: '/mtls-client' });
    const code = await rawStatus(
      c.member(leader).clientAddr,
      grpc.credentials.createSsl(ca),
      '/arbor.v1.Arbor/Sync',
    );
    expect(code).toBe(grpc.status.UNAVAILABLE);
  });

  it.each([
    ['--require-tls without any TLS', ['--require-tls'], /--require-tls/],
    ['a certificate without its key', ['--tls-cert', 'x.crt'], /--tls-cert and --tls-key go together/],
    [
      'part of the peer TLS flags',
      ['--peer-tls-cert', 'a', '--peer-tls-key', 'b'],
      /--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together/,
    ],
  ])('refuses to start with %s', (_what, flags, message) => {
    const r = spawnSync(
      process.execPath,
      [SERVER_JS, '--id', '1', '--initial-cluster', '1=127.0.0.1:1', ...flags],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
