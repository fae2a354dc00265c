/**
 * `npm start`: a local three-member cluster on loopback, data under ./data/m1..m3. Prints each
 * member's endpoints and the leader, runs until Ctrl-C, then stops all three cleanly. Restarting
 * keeps the data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadArborProto } from '../api/proto.js';

const N = 3;
const root = process.env.ARBOR_LOCAL_DATA ?? path.resolve('data');
const serverJs = fileURLToPath(new URL('./server.js', import.meta.url));
const cluster = Array.from(
  { length: N },
  (_, i) => `${i + 1}=127.0.0.1:${4191 + i}|127.0.0.1:${4181 + i}`,
).join(',');

const children: ChildProcess[] = [];
let stopping = false;

for (let i = 1; i <= N; i++) {
  const args = [
    serverJs,
    '--id',
    String(i),
    '--name',
    `m${i}`,
    '--client-addr',
    `127.0.0.1:${4180 + i}`,
    '--peer-addr',
    `127.0.0.1:${4190 + i}`,
    '--http-addr',
    `127.0.0.1:${4200 + i}`,
    '--initial-cluster',
    cluster,
    '--data-dir',
    path.join(root, `m${i}`),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(
        `member m${i} exited unexpectedly (code ${code}, signal ${signal}); stopping the cluster`,
      );
      shutdown(1);
    }
  });
  children.push(child);
  console.log(
    `m${i}: clients 127.0.0.1:${4180 + i}  peers 127.0.0.1:${4190 + i}  http http://127.0.0.1:${4200 + i}  data ${path.join(root, `m${i}`)}`,
  );
}

function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  console.log('stopping the cluster...');
  let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  if (left === 0) process.exit(code);
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.once('exit', () => {
      if (--left === 0) {
        console.log('stopped');
        process.exit(code);
      }
    });
    c.kill('SIGTERM');
  }
  setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(code);
  }, 15_000).unref();
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

// Report the leader once one is elected.
const proto = loadArborProto();
const Ctor = grpc.makeGenericClientConstructor(proto.cluster, 'Cluster');
const client = new Ctor('127.0.0.1:4181', grpc.credentials.createInsecure());
const started = Date.now();
const poll = (): void => {
  (
    client as unknown as {
      Status(req: object, opts: object, cb: (e: Error | null, r?: { leader_id: string }) => void): void;
    }
  ).Status({}, { deadline: Date.now() + 1000 }, (e, r) => {
    const leader = r ? Number(r.leader_id) : 0;
    if (!e && leader > 0) {
      console.log(
        `leader: m${leader} (127.0.0.1:${4180 + leader}) — cluster ready. Try: ./bin/arbor.js tree / ; Ctrl-C stops it.`,
      );
      client.close();
      return;
    }
    if (Date.now() - started > 60_000) {
      console.error("no leader after 60 s; check the members' logs");
      client.close();
      return;
    }
    setTimeout(poll, 200);
  });
};
setTimeout(poll, 300);
