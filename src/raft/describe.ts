/**
 * Deterministic one-line renderings of messages and Ready batches, shared by golden tests and
 * debug logs (etcd-io/raft's DescribeMessage / DescribeReady). Never prints entry payloads beyond
 * their size: they may hold user data (STYLE.md habit 6).
 */
import type { Message } from './messages.js';
import type { Ready } from './raw-node.js';
import type { ConfState, Entry } from './types.js';
import { EntryType } from './types.js';

function describeEntry(e: Entry): string {
  const kind = e.type === EntryType.ConfChange ? 'cc' : e.data.length === 0 ? 'noop' : `${e.data.length}B`;
  return `${e.term}/${e.index} ${kind}`;
}

function describeEntries(ents: readonly Entry[]): string {
  if (ents.length <= 4) return `[${ents.map(describeEntry).join(', ')}]`;
  const first = ents[0] as Entry;
  const last = ents[ents.length - 1] as Entry;
  return `[${describeEntry(first)} .. ${describeEntry(last)} (${ents.length})]`;
}

function describeConf(c: ConfState): string {
  const l = c.learners.length > 0 ? ` learners=${c.learners.join(',')}` : '';
  return `voters=${c.voters.join(',')}${l}`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.logTerm}/${m.index} commit=${m.commit}${m.commitOnly ? ' commit-only' : ''} ${describeEntries(m.entries)}`;
    case 'appResp':
      return m.reject
        ? `${head} REJECT ${m.index} hint=${m.logTerm}/${m.rejectHint}`
        : `${head} index=${m.index}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.logTerm}/${m.index}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${head}${m.reject ? ' REJECT' : ''}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} read=${m.readSeq}`;
    case 'heartbeatResp':
      return `${head} read=${m.readSeq}`;
    case 'snap':
      return `${head} snap=${m.snapshot.meta.term}/${m.snapshot.meta.index} ${describeConf(m.snapshot.meta.conf)} ${m.snapshot.data.length}B`;
    case 'readIndex':
      return `${head} ctx=${m.ctx.length}B`;
    case 'readIndexResp':
      return `${head} index=${m.index} ctx=${m.ctx.length}B`;
    case 'timeoutNow':
      return head;
  }
}

export function describeReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState !== undefined) parts.push(`soft{lead=${rd.softState.leader} ${rd.softState.role}}`);
  if (rd.hardState !== undefined) {
    parts.push(`hard{term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}}`);
  }
  if (rd.entries.length > 0) parts.push(`entries=${describeEntries(rd.entries)}`);
  if (rd.snapshot !== undefined) parts.push(`snapshot=${rd.snapshot.meta.term}/${rd.snapshot.meta.index}`);
  if (rd.committedEntries.length > 0) parts.push(`committed=${describeEntries(rd.committedEntries)}`);
  if (rd.readStates.length > 0) parts.push(`reads=[${rd.readStates.map((r) => r.index).join(',')}]`);
  if (rd.messages.length > 0) parts.push(`msgs=[${rd.messages.map(describeMessage).join('; ')}]`);
  if (rd.mustSync) parts.push('sync');
  return parts.length > 0 ? parts.join(' ') : 'empty';
}
