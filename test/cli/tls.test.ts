/**
 * The `arbor` command against TLS members: --tls-ca (or ARBOR_CLI_TLS_CA) to trust the cluster
 * CA, --tls-cert/--tls-key for a client port that requires client certificates, and clear usage
 * errors for a half-given pair or a missing file. Members run in this process; the CLI is the
 * compiled `dist/cli/arbor.js`, as a user runs it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../../src/security/certs.js';
import { startInProcess, type InProcessMember } from '../api/in-process.js';
import { arbor } from './run-cli.js';

let dir: string;
let tls: InProcessMember;
let mutual: InProcessMember;
const file = (name: string): string => path.join(dir, name);
// By name: Node warns (DEP0123) when TLS is asked to verify an IP address through SNI.
const at = (m: InProcessMember): string => m.clientAddr.replace('127.0.0.1', 'localhost');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-cli-tls-'));
  makeCerts({ out: dir, members: ['m1'], hosts: ['127.0.0.1', 'localhost'], clients: ['alice'], days: 2 });
  const serverTls = ['--tls-cert', file('m1.crt'), '--tls-key', file('m1.key')];
  tls = await startInProcess(serverTls);
  mutual = await startInProcess([...serverTls, '--tls-client-auth', '--tls-ca', file('ca.crt')]);
}, 60_000);

afterAll(async () => {
  await Promise.all([tls?.stop(), mutual?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('arbor over TLS', () => {
  it('--tls-ca: writes and reads through a TLS client port', async () => {
    const ep = ['--endpoints', at(tls), '--tls-ca', file('ca.crt')];
    const c = await arbor(['create', '/over-tls', 'secret', ...ep, '--timeout', '20000']);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(await arbor(['get', '/over-tls', ...ep])).toMatchObject({ code: 0, stdout: 'secret\n' });
  });

  it('ARBOR_CLI_TLS_CA works like --tls-ca', async () => {
    const r = await arbor(['status', '--json', '--endpoints', at(tls)], {
      env: { ARBOR_CLI_TLS_CA: file('ca.crt') },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0].type).toBe('ok');
  });

  it('without TLS flags the TLS port does not answer', async () => {
    const r = await arbor(['get', '/over-tls', '--endpoints', at(tls), '--timeout', '1500']);
    expect(r.code).toBe(1);
  });

  it('--tls-cert/--tls-key: a client port that requires client certificates lets it in', async () => {
    const ep = ['--endpoints', at(mutual), '--tls-ca', file('ca.crt')];
    const withCert = ['--tls-cert', file('client-alice.crt'), '--tls-key', file('client-alice.key')];
    const ok = await arbor(['create', '/mutual', 'x', ...ep, ...withCert, '--timeout', '20000']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const env = { ARBOR_CLI_TLS_CERT: file('client-alice.crt'), ARBOR_CLI_TLS_KEY: file('client-alice.key') };
    expect(await arbor(['get', '/mutual', ...ep], { env })).toMatchObject({ code: 0, stdout: 'x\n' });
    expect((await arbor(['get', '/mutual', ...ep, '--timeout', '1500'])).code).toBe(1);
  });

  it.each([
    [['--tls-cert', 'c.crt'], /--tls-cert and --tls-key go together/],
    [['--tls-ca', '/nonexistent/ca.crt'], /--tls-ca \/nonexistent\/ca\.crt: ENOENT/],
  ])('%j is a usage error (exit 2) that says what to fix', async (flags, message) => {
    const r = await arbor(['get', '/', '--endpoints', at(tls), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
