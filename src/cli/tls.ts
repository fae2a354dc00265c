/** `arbor` talking TLS: the files named by --tls-ca/--tls-cert/--tls-key as gRPC credentials. */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { CliTls } from './commands/parse.js';

function read(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`${flag} ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Plaintext without TLS files (the local quick start); TLS, with a client certificate if given. */
export function cliCredentials(tls: CliTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    tls.ca === undefined ? null : read(tls.ca, '--tls-ca'),
    tls.key === undefined ? null : read(tls.key, '--tls-key'),
    tls.cert === undefined ? null : read(tls.cert, '--tls-cert'),
  );
}
