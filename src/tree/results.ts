/** Results of applied commands (the proto's *Response messages, as domain values). */
import type { SessionId } from '../util/brand.js';
import type { Result } from '../util/result.js';
import type { AuthCommand } from './commands.js';
import type { TreeError } from './errors.js';
import type { ZPath } from './path.js';
import type { Stat } from './stat.js';

export interface CreateResult {
  readonly type: 'create';
  /** The actual path (with the sequence suffix for sequential modes). */
  readonly path: ZPath;
  readonly stat: Stat;
}
export interface SetResult {
  readonly type: 'set';
  readonly stat: Stat;
}
export interface DeleteResult {
  readonly type: 'delete';
}
export interface CheckResult {
  readonly type: 'check';
}
export type OpResult = CreateResult | SetResult | DeleteResult | CheckResult;

export interface MultiResult {
  readonly type: 'multi';
  readonly results: readonly OpResult[];
}
export interface OpenSessionResult {
  readonly type: 'openSession';
  readonly sessionId: SessionId;
  readonly timeoutMs: number;
}
export interface CloseSessionResult {
  readonly type: 'closeSession';
}
export interface ExpireSessionsResult {
  readonly type: 'expireSessions';
  /** The ids that were live and are now gone (unknown ids are skipped). */
  readonly expired: readonly SessionId[];
}
export interface SweepResult {
  readonly type: 'sweep';
  /** Targets actually deleted (the others had changed since the leader chose them). */
  readonly deleted: readonly ZPath[];
}

export interface SetAclResult {
  readonly type: 'setAcl';
  readonly stat: Stat;
}
/** User management and auth switches answer with nothing but success. */
export interface AuthResult {
  readonly type: AuthCommand['type'];
}

export type CommandResult =
  | OpResult
  | MultiResult
  | OpenSessionResult
  | CloseSessionResult
  | ExpireSessionsResult
  | SweepResult
  | SetAclResult
  | AuthResult;

export type CommandOutcome = Result<CommandResult, TreeError>;
