/**
 * `arbor certs`: a private CA and certificates for a cluster, made with the system's openssl (no
 * certificate-building API exists in Node's crypto). One certificate per member serves both its
 * client and peer ports and authenticates it to the other members (serverAuth + clientAuth);
 * client certificates carry the identity in their subject CN.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CertOptions {
  readonly out: string;
  /** Member names; each gets <name>.crt/.key with the SANs below. */
  readonly members: readonly string[];
  /** Subject alternative names for every member certificate (DNS names and IP addresses). */
  readonly hosts: readonly string[];
  /** Client identities; each gets client-<name>.crt/.key with CN=<name>. */
  readonly clients: readonly string[];
  readonly days: number;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function san(hosts: readonly string[]): string {
  return hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

function issue(dir: string, name: string, subject: string, ext: string, days: number, tmp: string): void {
  const extFile = path.join(tmp, `${name}.ext`);
  fs.writeFileSync(extFile, ext);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  openssl(
    ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', path.join(tmp, `${name}.csr`)],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      path.join(tmp, `${name}.csr`),
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      String(days),
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  fs.chmodSync(path.join(dir, `${name}.key`), 0o600);
}

/** Writes ca.crt/ca.key (kept if present), one cert per member and per client; returns the files written. */
export function makeCerts(o: CertOptions): string[] {
  fs.mkdirSync(o.out, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arbor-certs-'));
  const written: string[] = [];
  try {
    if (!fs.existsSync(path.join(o.out, 'ca.crt'))) {
      openssl(
        ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'],
        o.out,
      );
      openssl(
        [
          'req',
          '-x509',
          '-new',
          '-key',
          'ca.key',
          '-subj',
          '/CN=Arbor cluster CA',
          '-days',
          String(o.days),
          '-sha256',
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
          '-out',
          'ca.crt',
        ],
        o.out,
      );
      fs.chmodSync(path.join(o.out, 'ca.key'), 0o600);
      written.push('ca.crt', 'ca.key');
    }
    for (const m of o.members) {
      issue(
        o.out,
        m,
        `/CN=${m}`,
        `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san([...o.hosts, m])}\n`,
        o.days,
        tmp,
      );
      written.push(`${m}.crt`, `${m}.key`);
    }
    for (const c of o.clients) {
      issue(
        o.out,
        `client-${c}`,
        `/CN=${c}`,
        'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=clientAuth\n',
        o.days,
        tmp,
      );
      written.push(`client-${c}.crt`, `client-${c}.key`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return written;
}
