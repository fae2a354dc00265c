/** Output rendering for `arbor` (pure: values in, lines out). Human tables by default, JSON for scripts. */
import { status as Status } from '@grpc/grpc-js';
import { ArborError } from '../../client/errors.js';
import type { Member, MemberStatus, Stat, WatchEvent } from '../../client/types.js';

/** JSON for scripts: bigints as decimal strings (JSON has no 64-bit integers). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Node data for JSON output: UTF-8 when it round-trips, base64 otherwise. */
export function dataJson(data: Buffer): { data: string; encoding: 'utf8' | 'base64' } {
  const text = data.toString('utf8');
  return Buffer.from(text, 'utf8').equals(data)
    ? { data: text, encoding: 'utf8' }
    : { data: data.toString('base64'), encoding: 'base64' };
}

export function formatStat(stat: Stat): string[] {
  const rows: [string, string][] = [
    ['createdRevision', String(stat.createdRevision)],
    ['modifiedRevision', String(stat.modifiedRevision)],
    ['childrenRevision', String(stat.childrenRevision)],
    ['version', String(stat.version)],
    ['childrenVersion', String(stat.childrenVersion)],
    ['created', formatTime(stat.createdMs)],
    ['modified', formatTime(stat.modifiedMs)],
    ['ephemeralOwner', stat.ephemeralOwner === 0n ? '0' : `0x${stat.ephemeralOwner.toString(16)}`],
    ['dataLength', String(stat.dataLength)],
    ['numChildren', String(stat.numChildren)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)} = ${v}`);
}

function formatTime(ms: number): string {
  return ms === 0 ? '0' : `${new Date(ms).toISOString()} (${ms})`;
}

export interface TreeNode {
  readonly name: string;
  readonly children: readonly TreeNode[];
}

/** Draw a hierarchy like tree(1): the root on its own line, then ├── / └── branches. */
export function renderTree(root: TreeNode): string[] {
  const lines = [root.name];
  const walk = (node: TreeNode, prefix: string): void => {
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${child.name}`);
      walk(child, prefix + (last ? '    ' : '│   '));
    });
  };
  walk(root, '');
  return lines;
}

/** Left-aligned columns separated by two spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatMembers(members: readonly Member[], leaderId: number): string[] {
  return table(
    ['ID', 'NAME', 'ROLE', 'HEALTHY', 'PEER URL', 'CLIENT URL'],
    members.map((m) => [
      String(m.id),
      m.name,
      m.id === leaderId ? `${m.role} (leader)` : m.role,
      m.healthy ? 'yes' : 'no',
      m.peerUrl,
      m.clientUrl,
    ]),
  );
}

export type StatusRow =
  | { readonly type: 'ok'; readonly status: MemberStatus }
  | { readonly type: 'error'; readonly endpoint: string; readonly error: string };

export function formatStatus(rows: readonly StatusRow[]): string[] {
  return table(
    ['ENDPOINT', 'ID', 'NAME', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'REVISION', 'ERROR'],
    rows.map((r) =>
      r.type === 'ok'
        ? [
            r.status.endpoint,
            String(r.status.memberId),
            r.status.name,
            r.status.role,
            String(r.status.term),
            String(r.status.leaderId),
            String(r.status.commitIndex),
            String(r.status.appliedIndex),
            String(r.status.revision),
            '',
          ]
        : [r.endpoint, '-', '-', 'unreachable', '-', '-', '-', '-', '-', r.error],
    ),
  );
}

export function formatEvent(e: WatchEvent): string {
  const size = e.type === 'deleted' ? '' : `  (${e.data.length} bytes)`;
  return `${String(e.revision).padStart(8)}  ${e.type.padEnd(7)}  ${e.path}${size}`;
}

export function eventJson(e: WatchEvent): Record<string, unknown> {
  return { type: e.type, path: e.path, revision: e.revision, ...dataJson(e.data), stat: e.stat };
}

/** One line for stderr: the error class, the status name and the server's message. */
export function formatError(e: unknown): string {
  if (e instanceof ArborError) {
    const op = e.failedOp !== undefined ? ` (op ${e.failedOp})` : '';
    return `arbor: ${e.name} [${Status[e.code] ?? e.code}]${op}: ${e.message}`;
  }
  return `arbor: ${e instanceof Error ? e.message : String(e)}`;
}
