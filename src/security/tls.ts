/**
 * TLS material → gRPC credentials. The peer port always uses mutual TLS: a member accepts a
 * connection only from a certificate signed by the cluster CA, so nothing else can reach the Raft
 * core. The client port uses TLS, and asks for client certificates when a client CA is given.
 */
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read the ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

export interface LoadedTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
}

export function loadTls(f: TlsFiles, what: string): LoadedTls {
  return {
    cert: read(f.cert, `${what} certificate`),
    key: read(f.key, `${what} key`),
    ca: f.ca === undefined ? null : read(f.ca, `${what} CA`),
  };
}

/** mTLS for the peer port: both directions present a certificate from the cluster CA. */
export function peerCredentials(t: LoadedTls): {
  server: grpc.ServerCredentials;
  client: grpc.ChannelCredentials;
} {
  if (t.ca === null) throw new Error('mutual TLS between members needs the cluster CA');
  return {
    server: grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], true),
    client: grpc.credentials.createSsl(t.ca, t.key, t.cert),
  };
}

/** TLS for the client port; with requireClientCert, clients must present a cert from the CA. */
export function clientPortCredentials(t: LoadedTls, requireClientCert: boolean): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    t.ca,
    [{ cert_chain: t.cert, private_key: t.key }],
    requireClientCert,
  );
}

/** Is this host:port on the loopback interface (where plaintext is acceptable)? */
export function isLoopback(addr: string): boolean {
  const host = addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
