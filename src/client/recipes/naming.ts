/**
 * Cluster-unique sequential names (ZooKeeper's "name service" / sequence nodes). The counter is
 * the version of one znode: every `set` increments it by exactly one in the replicated log, so
 * each call gets a number no other call got, increasing in the order the writes committed. A
 * retried write carries the same exactly-once header and gets the same number back; if the
 * outcome stays unknown (deadline), the number is skipped, never handed out twice. No nodes are
 * created per name, so nothing needs cleaning up.
 */
import type { ArborClient } from '../client.js';
import type { CallOptions } from '../types.js';
import { ensurePath } from './internal.js';
import { SEQUENCE_DIGITS } from './internal.js';

export interface SequentialName {
  /** 1, 2, 3 … in commit order (gaps only after writes whose outcome stayed unknown). */
  readonly id: number;
  /** `prefix` + the id zero-padded to 10 digits, so names sort like ids. */
  readonly name: string;
}

export class IdGenerator {
  private ensured = false;

  constructor(
    private readonly client: ArborClient,
    /** The counter node (created on first use). */
    readonly path: string,
    private readonly prefix = '',
  ) {}

  async next(opts: CallOptions = {}): Promise<SequentialName> {
    if (!this.ensured) {
      await ensurePath(this.client, this.path, opts.signal);
      this.ensured = true;
    }
    const { stat } = await this.client.set(this.path, '', opts);
    return { id: stat.version, name: `${this.prefix}${String(stat.version).padStart(SEQUENCE_DIGITS, '0')}` };
  }
}
