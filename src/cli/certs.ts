/** `arbor certs`: makes a cluster CA and certificates for members and clients (see src/security/certs.ts). */
import { parseArgs } from 'node:util';
import { makeCerts } from '../security/certs.js';

export const CERTS_USAGE = [
  'arbor certs [--out DIR] [--members m1,m2,m3] [--hosts 127.0.0.1,localhost] [--clients admin] [--days 365]',
  '    make a cluster CA (DIR/ca.crt, kept if present) and a certificate per member (DIR/<member>.crt/.key,',
  '    valid for every --hosts name) and per client (DIR/client-<name>.crt/.key, subject CN=<name>)',
].join('\n');

export function runCertsCli(argv: readonly string[]): number {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        out: { type: 'string', default: './certs' },
        members: { type: 'string', default: 'm1,m2,m3' },
        hosts: { type: 'string', default: '127.0.0.1,localhost' },
        clients: { type: 'string', default: 'admin' },
        days: { type: 'string', default: '365' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(CERTS_USAGE);
      return 0;
    }
    const list = (s: string): string[] =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    const days = Number(values.days);
    if (!Number.isInteger(days) || days < 1)
      throw new Error(`--days must be a positive integer: got '${values.days}'`);
    const files = makeCerts({
      out: values.out,
      members: list(values.members),
      hosts: list(values.hosts),
      clients: list(values.clients),
      days,
    });
    console.log(`wrote ${files.length} files to ${values.out}: ${files.join(', ')}`);
    return 0;
  } catch (e) {
    console.error(`arbor certs: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
}
