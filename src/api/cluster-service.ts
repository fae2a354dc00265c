/**
 * The arbor.v1.Cluster service: status, membership and leadership operations. Everything but
 * Status needs the admin role once auth is enabled; membership changes are audited.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Member } from '../server/member.js';
import type { AdminOp } from '../server/forward-codec.js';
import { encodeAppliedMeta } from '../server/snapshot-meta.js';
import { int, str, bool } from './convert.js';
import { invalid, serviceError, toStatus } from './status.js';
import type { Operations } from './arbor-service.js';
import { unaryHandler } from './unary.js';
import type { AuthGate, CallLike } from './auth-gate.js';

type Msg = Record<string, unknown>;

function membersOf(member: Member): Msg[] {
  const st = member.status();
  const out: Msg[] = [];
  for (const [id, info] of st.members) {
    const learner = st.conf.learners.includes(id);
    const voter = st.conf.voters.includes(id);
    if (!learner && !voter) continue;
    out.push({
      id,
      name: info.name,
      client_url: info.clientUrl,
      peer_url: info.peerUrl,
      role: learner ? 1 : 0,
      healthy: st.healthy.has(id),
    });
  }
  return out.sort((a, b) => (a.id as number) - (b.id as number));
}

export function clusterHandlers(
  member: Member,
  ops: Operations,
  logger: Logger,
  gate: AuthGate,
): grpc.UntypedServiceImplementation {
  const unary = unaryHandler(logger, (call) => ops.deadlineOf(call));

  /** The caller, refused unless an admin (while auth is enabled). */
  const adminOnly = (call: CallLike, what: string): string[] | undefined => {
    const who = gate.identify(call);
    gate.requireAdmin(who, what);
    return who === undefined ? undefined : [...who];
  };

  const admin = async (op: AdminOp, deadline: number, call: CallLike): Promise<Msg> => {
    const who = adminOnly(call, op.type);
    gate.audit.info(
      { event: 'membership', identity: who ?? [], op },
      `membership change requested: ${op.type}`,
    );
    await member.admin(op, deadline);
    // Answer with the membership as of the change, also when the change ran on another member.
    await member.linearize(deadline);
    return { members: membersOf(member) };
  };

  const positiveId = (req: unknown, name = 'id'): number => {
    const id = int(req, name);
    if (id <= 0) throw invalid(`${name} must be a positive member id`);
    return id;
  };

  const snapshot = (call: grpc.ServerWritableStream<unknown, Msg>): void => {
    const run = async (): Promise<void> => {
      // A snapshot holds every znode and the user table: admins only.
      const who = adminOnly(call, 'Snapshot');
      gate.audit.info({ event: 'snapshot', identity: who ?? [] }, 'snapshot requested');
      const reader = await member.openSnapshot();
      try {
        call.write({ meta: encodeAppliedMeta(reader.meta), index: reader.meta.index });
        for await (const chunk of reader.chunks()) {
          if (call.cancelled) return;
          // Respect the consumer's pace: wait for the transport to drain before the next chunk.
          if (!call.write({ data: chunk })) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      } finally {
        await reader.close();
      }
    };
    run().catch((e: unknown) => {
      const st = toStatus(e);
      if (st.code === grpc.status.INTERNAL) logger.error({ err: e }, 'snapshot stream failed');
      call.emit('error', serviceError(st));
    });
  };

  return {
    Snapshot: snapshot,
    Status: unary(() => {
      const st = member.status();
      return Promise.resolve({
        member_id: st.id,
        leader_id: st.leader,
        term: st.term,
        commit_index: st.commit,
        applied_index: st.applied,
        revision: st.applied,
        members: membersOf(member),
        name: st.name,
        role: st.role,
        digest: member.tree.digest().toString(16).padStart(16, '0'),
      });
    }),
    AddMember: unary((req, deadline, call) => {
      const peerUrl = str(req, 'peer_url');
      if (!/^[^\s:]+:\d{1,5}$/.test(peerUrl)) throw invalid(`peer_url must be host:port: got '${peerUrl}'`);
      return admin(
        {
          type: 'addMember',
          id: positiveId(req),
          name: str(req, 'name'),
          peerUrl,
          clientUrl: str(req, 'client_url'),
          asLearner: bool(req, 'as_learner'),
        },
        deadline,
        call,
      );
    }),
    PromoteMember: unary((req, deadline, call) =>
      admin({ type: 'promoteMember', id: positiveId(req) }, deadline, call),
    ),
    RemoveMember: unary((req, deadline, call) =>
      admin({ type: 'removeMember', id: positiveId(req) }, deadline, call),
    ),
    TransferLeader: unary(async (req, deadline, call) => {
      const who = adminOnly(call, 'transferLeader');
      gate.audit.info(
        { event: 'transferLeader', identity: who ?? [], target: int(req, 'target_id') },
        'leader transfer requested',
      );
      await member.admin({ type: 'transferLeader', target: int(req, 'target_id') }, deadline);
      return { leader_id: member.status().leader };
    }),
  };
}
