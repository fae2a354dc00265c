/**
 * The API from another language: Python stubs generated from proto/ (Debian's python3-grpcio and
 * python3-grpc-tools, run with /usr/bin/python3) drive a real cluster.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTO_DIR, TestCluster } from './harness.js';

const PY = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/client_check.py', import.meta.url));

let cluster: TestCluster;
let out: string;

beforeAll(async () => {
  out = mkdtempSync(path.join(os.tmpdir(), 'arbor-py-'));
  execFileSync(PY, [
    '-m',
    'grpc_tools.protoc',
    `-I${PROTO_DIR}`,
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    'arbor/v1/arbor.proto',
  ]);
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe('a Python client generated from the proto', () => {
  it('creates, reads, updates, deletes, lists, multis, watches and uses sessions', () => {
    const endpoints = cluster.members.map((m) => m.clientAddr).join(',');
    const r = spawnSync(PY, [SCRIPT, out, endpoints], { encoding: 'utf8', timeout: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('all python checks passed');
    expect(r.status).toBe(0);
  });
});
