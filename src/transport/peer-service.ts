/**
 * The receiving side of the peer protocol: checks that each frame is meant for this member of
 * this cluster, then hands opaque bytes to the member's PeerHandler. Frames for another cluster
 * or another member (a stale address after a membership change, a mis-wired config) are dropped
 * with a rate-limited warning rather than delivered: Raft must never see a stranger's messages.
 */
import {
  Metadata,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { nodeId, type NodeId } from '../util/brand.js';
import { PeerError, toStatus } from './peer-error.js';
import type {
  Empty,
  ForwardRequest,
  ForwardResponse,
  ForwardStreamRequest,
  ForwardStreamResponse,
  MessageBatch,
  SnapshotChunk,
} from './peer-proto.js';
import type { RateLimitedLog } from '../util/rate-limited-log.js';
import type { PeerHandler, TransportStats } from './transport-interface.js';

export interface PeerServiceDeps {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly handler: PeerHandler;
  readonly logger: Logger;
  readonly warn: RateLimitedLog;
  readonly stats: TransportStats;
}

export function peerService(d: PeerServiceDeps): UntypedServiceImplementation {
  /** Why a frame addressed as (clusterId, to) is not ours, or undefined if it is. */
  const misaddressed = (clusterId: string, to: number | undefined): string | undefined => {
    if (clusterId !== d.clusterId) return 'wrong cluster id';
    if (to !== undefined && to !== d.selfId) return 'wrong destination';
    return undefined;
  };

  const messages = (
    call: ServerReadableStream<MessageBatch, Empty>,
    callback: sendUnaryData<Empty>,
  ): void => {
    // Headers now, so the sender learns the stream is accepted (it resets its backoff then).
    call.sendMetadata(new Metadata());
    call.on('data', (batch: MessageBatch) => {
      const why = misaddressed(batch.clusterId, batch.to);
      if (why !== undefined) {
        d.stats.batchesRejected++;
        d.warn.warn(
          `reject-${why}-${batch.from}`,
          { from: batch.from, to: batch.to, clusterId: batch.clusterId, reason: why },
          'dropped peer batch',
        );
        return;
      }
      d.stats.batchesReceived++;
      d.stats.messagesReceived += batch.messages.length;
      try {
        d.handler.onMessages(nodeId(batch.from), batch.messages);
      } catch (e) {
        d.warn.warn(
          `handler-${batch.from}`,
          { from: batch.from, err: e instanceof Error ? e.message : String(e) },
          'onMessages threw; batch dropped',
        );
      }
    });
    call.on('end', () => callback(null, {}));
    call.on('error', (e: Error) => d.logger.debug({ err: e.message }, 'inbound peer stream error'));
  };

  const installSnapshot = (
    call: ServerReadableStream<SnapshotChunk, Empty>,
    callback: sendUnaryData<Empty>,
  ): void => {
    call.on('error', (e: Error) => d.logger.debug({ err: e.message }, 'inbound snapshot stream error'));
    receiveSnapshot(call).then(
      () => callback(null, {}),
      (e: unknown) => callback(toStatus(e)),
    );
  };

  const receiveSnapshot = async (call: ServerReadableStream<SnapshotChunk, Empty>): Promise<void> => {
    // The Readable's async iterator pulls one chunk at a time, and grpc-js only reads the next
    // message from HTTP/2 when asked: a slow installer slows the sender instead of buffering.
    const it = call[Symbol.asyncIterator]() as AsyncIterator<SnapshotChunk>;
    const first = await it.next();
    if (first.done === true) throw new PeerError(status.INVALID_ARGUMENT, 'empty snapshot stream');
    const head = first.value;
    const why = misaddressed(head.clusterId, head.to);
    if (why !== undefined) {
      d.warn.warn(
        `reject-snapshot-${why}-${head.from}`,
        { from: head.from, reason: why },
        'rejected snapshot',
      );
      throw new PeerError(status.FAILED_PRECONDITION, why);
    }
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (head.data.byteLength > 0) yield head.data;
      if (head.last) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true)
          throw new PeerError(status.ABORTED, 'snapshot stream ended before its last chunk');
        if (r.value.data.byteLength > 0) yield r.value.data;
        if (r.value.last) return;
      }
    }
    d.logger.info({ from: head.from, headerBytes: head.header.byteLength }, 'receiving snapshot');
    await d.handler.onSnapshot(nodeId(head.from), head.header, chunks());
  };

  /** Runs the handler for one forwarded request; never rejects (errors become a status). */
  const handleForward = async (
    req: ForwardRequest,
    leftMs: number,
  ): Promise<{ payload: Uint8Array } | { error: { code: number; message: string } }> => {
    try {
      const why = misaddressed(req.clusterId, undefined);
      if (why !== undefined) {
        d.warn.warn(`reject-forward-${why}-${req.from}`, { from: req.from, reason: why }, 'rejected forward');
        return { error: { code: status.FAILED_PRECONDITION, message: why } };
      }
      return { payload: await d.handler.onForward(nodeId(req.from), req.kind, req.payload, leftMs) };
    } catch (e) {
      const st = toStatus(e);
      return { error: { code: st.code ?? status.INTERNAL, message: st.details ?? '' } };
    }
  };

  const forward = (
    call: ServerUnaryCall<ForwardRequest, ForwardResponse>,
    callback: sendUnaryData<ForwardResponse>,
  ): void => {
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const leftMs = Number.isFinite(deadlineMs) ? Math.max(0, deadlineMs - Date.now()) : Infinity;
    void handleForward(call.request, leftMs).then((r) =>
      'payload' in r ? callback(null, r) : callback({ code: r.error.code, details: r.error.message }),
    );
  };

  const forwardStream = (call: ServerDuplexStream<ForwardStreamRequest, ForwardStreamResponse>): void => {
    let inFlight = 0;
    let ended = false;
    const gone = (): boolean => call.cancelled || call.destroyed || call.writableEnded;
    call.on('data', (req: ForwardStreamRequest) => {
      inFlight++;
      const answer =
        req.request === null || req.request === undefined
          ? Promise.resolve({ error: { code: status.INVALID_ARGUMENT, message: 'forward without request' } })
          : handleForward(req.request, req.deadlineMs);
      void answer.then((r) => {
        inFlight--;
        if (gone()) return;
        call.write({ id: req.id, ...r });
        if (ended && inFlight === 0) call.end();
      });
    });
    call.on('end', () => {
      ended = true;
      if (inFlight === 0 && !gone()) call.end();
    });
    call.on('error', (e: Error) => d.logger.debug({ err: e.message }, 'inbound forward stream error'));
  };

  return {
    Messages: messages,
    InstallSnapshot: installSnapshot,
    Forward: forward,
    ForwardStream: forwardStream,
  };
}
