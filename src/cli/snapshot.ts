/**
 * `arbor snapshot save FILE` — a consistent backup of the tree from any member, taken without
 * stopping writes; `arbor snapshot restore FILE --data-dir DIR --initial-cluster ...` — seeds the
 * data directory of one member of a NEW cluster from it (run it once per member, with the same
 * --initial-cluster, then start the members normally).
 *
 * File format: "ARBORSNAP" 0x01, uvarint-prefixed meta, uvarint-prefixed chunks, a zero length,
 * then the SHA-256 of everything before it. Restore verifies the hash before touching anything.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadArborProto } from '../api/proto.js';
import { ArborStore } from '../storage/index.js';
import { encodeAddressBook } from '../server/address-book.js';
import { parseInitialCluster } from '../server/config.js';
import { decodeAppliedMeta } from '../server/snapshot-meta.js';
import type { Term } from '../util/brand.js';
import { NO_NODE, logIndex } from '../util/brand.js';
import { ByteReader, ByteWriter } from '../util/bytes.js';
import { DEFAULT_ENDPOINTS } from '../client/client.js';
import { cliCredentials } from './tls.js';

const MAGIC = Buffer.from('ARBORSNAP\x01', 'latin1');

export const SNAPSHOT_USAGE = [
  'arbor snapshot save FILE [--endpoints A,B,C] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]',
  '    write a consistent snapshot of the tree (taken without stopping writes) to FILE',
  'arbor snapshot restore FILE --data-dir DIR --initial-cluster "1=host:port,2=host:port,3=host:port"',
  '    seed the data directory of one member of a new cluster from FILE; run it for every member',
  '    with the same --initial-cluster, then start the members with that --initial-cluster',
].join('\n');

function progress(what: string, bytes: number, done = false): void {
  if (!process.stderr.isTTY) return;
  const mb = (bytes / (1024 * 1024)).toFixed(1);
  process.stderr.write(`\r${what}: ${mb} MiB${done ? '\n' : ''}`);
}

function uvarint(n: number): Buffer {
  return Buffer.from(new ByteWriter(10).uvarint(n).finish());
}

async function save(
  file: string,
  endpoints: readonly string[],
  credentials: grpc.ChannelCredentials,
): Promise<void> {
  const proto = loadArborProto();
  const Ctor = grpc.makeGenericClientConstructor(proto.cluster, 'Cluster');
  let lastError: unknown;
  for (const endpoint of endpoints) {
    const client = new Ctor(endpoint, credentials);
    const tmp = `${file}.partial`;
    const fd = fs.openSync(tmp, 'w');
    const hash = createHash('sha256');
    const put = (b: Uint8Array): void => {
      hash.update(b);
      fs.writeSync(fd, b);
    };
    try {
      let bytes = 0;
      let index = '0';
      put(MAGIC);
      await new Promise<void>((resolve, reject) => {
        const stream = (
          client as unknown as { Snapshot(req: object): grpc.ClientReadableStream<Record<string, unknown>> }
        ).Snapshot({});
        let first = true;
        stream.on('data', (m: Record<string, unknown>) => {
          const payload = (first ? m.meta : m.data) as Buffer;
          if (first) index = String(m.index);
          first = false;
          put(uvarint(payload.length));
          put(payload);
          bytes += payload.length;
          progress('snapshot save', bytes);
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      put(uvarint(0));
      fs.writeSync(fd, hash.digest());
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, file);
      progress('snapshot save', bytes, true);
      console.log(`saved snapshot at revision ${index} from ${endpoint} to ${file} (${bytes} bytes)`);
      client.close();
      return;
    } catch (e) {
      lastError = e;
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      client.close();
    }
  }
  throw new Error(
    `no member could take a snapshot: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}

/** Reads and verifies a backup file: its meta and chunks (throws on any damage). */
export function readSnapshotFile(file: string): { meta: Uint8Array; chunks: Uint8Array[] } {
  const buf = fs.readFileSync(file);
  if (buf.length < MAGIC.length + 33 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error(`${file} is not an Arbor snapshot file`);
  }
  const body = buf.subarray(0, buf.length - 32);
  const want = buf.subarray(buf.length - 32);
  if (!createHash('sha256').update(body).digest().equals(want)) {
    throw new Error(`${file} is damaged or truncated (checksum mismatch); take a new snapshot`);
  }
  const r = new ByteReader(body.subarray(MAGIC.length));
  const meta = r.bytes();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const c = r.bytes();
    if (c.length === 0) break;
    chunks.push(c);
  }
  r.end();
  return { meta, chunks };
}

async function restore(file: string, dataDir: string, initialCluster: string): Promise<void> {
  const ic = parseInitialCluster(initialCluster);
  if (!ic.ok) throw new Error(ic.error);
  if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
    throw new Error(`${dataDir} is not empty: restore only into a new, empty data directory`);
  }
  const { meta: metaBytes, chunks } = readSnapshotFile(file);
  const old = decodeAppliedMeta(metaBytes);
  // The restored image keeps its index and term, under the new cluster's membership.
  const voters = [...ic.value.keys()].sort((a, b) => a - b);
  const meta = {
    index: old.index,
    term: old.term as Term,
    conf: { voters, learners: [] },
    extra: encodeAddressBook(ic.value),
  };
  fs.mkdirSync(dataDir, { recursive: true });
  const store = await ArborStore.open(dataDir);
  try {
    const installer = await store.beginInstall(meta);
    let bytes = 0;
    try {
      for (const c of chunks) {
        await installer.write(c);
        bytes += c.length;
        progress('snapshot restore', bytes);
      }
      await installer.commit();
    } catch (e) {
      await installer.abort();
      throw e;
    }
    // A member's term is never below the terms in its log (Figure 2).
    await store.persist({
      hardState: { term: old.term as Term, vote: NO_NODE, commit: logIndex(old.index) },
    });
    progress('snapshot restore', bytes, true);
    console.log(`restored revision ${old.index} into ${dataDir} for members ${voters.join(', ')}`);
  } finally {
    await store.close();
  }
}

export async function runSnapshotCli(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        endpoints: { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'data-dir': { type: 'string' },
        'initial-cluster': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help || verb === undefined || verb === '--help' || verb === '-h') {
      console.log(SNAPSHOT_USAGE);
      return 0;
    }
    const file = positionals[0];
    if (file === undefined || positionals.length > 1)
      throw new UsageError(`expected exactly one FILE\n${SNAPSHOT_USAGE}`);
    if (verb === 'save') {
      const endpoints = (values.endpoints ?? process.env.ARBOR_ENDPOINTS ?? DEFAULT_ENDPOINTS.join(','))
        .split(',')
        .filter((e) => e !== '');
      const env = process.env;
      const ca = values['tls-ca'] ?? env.ARBOR_CLI_TLS_CA;
      const cert = values['tls-cert'] ?? env.ARBOR_CLI_TLS_CERT;
      const key = values['tls-key'] ?? env.ARBOR_CLI_TLS_KEY;
      if ((cert === undefined) !== (key === undefined))
        throw new UsageError('--tls-cert and --tls-key go together');
      const tls =
        ca === undefined && cert === undefined
          ? undefined
          : { ...(ca === undefined ? {} : { ca }), ...(cert && key ? { cert, key } : {}) };
      await save(file, endpoints, cliCredentials(tls));
      return 0;
    }
    if (verb === 'restore') {
      if (!values['data-dir'] || !values['initial-cluster']) {
        throw new UsageError(`restore needs --data-dir and --initial-cluster\n${SNAPSHOT_USAGE}`);
      }
      await restore(file, values['data-dir'], values['initial-cluster']);
      return 0;
    }
    throw new UsageError(`unknown snapshot command '${verb}'\n${SNAPSHOT_USAGE}`);
  } catch (e) {
    console.error(`arbor snapshot: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

class UsageError extends Error {}
