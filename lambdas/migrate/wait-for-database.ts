// The migration trigger's patience: retries a deploy-time call while the Data API says "not yet", until
// the invocation's budget runs out. Only for lambdas/migrate; the pipeline's retries live in the stream.
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyUnavailableError } from '../errors.ts';

/**
 * Data API (and SDK) error names that mean "not ready yet or busy": a first deploy meets them while a
 * new cluster finishes starting, a later one while a paused cluster resumes. Retrying a permanent one
 * by mistake costs at most the budget; failing a deploy on a transient one costs a whole deploy.
 */
const NOT_YET = new Set([
  'DatabaseResumingException', // Serverless v2 waking from auto-pause
  'DatabaseNotFoundException', // "the DB cluster doesn't have a DB instance": the writer is still being created
  'DatabaseUnavailableException',
  'HttpEndpointNotEnabledException', // the Data API of a just-created cluster may lag the cluster itself
  'InvalidResourceStateException', // cluster still being created or modified
  'TransactionNotFoundException', // a transaction dropped mid-run (pause, failover): the whole run repeats
  'ServiceUnavailableError',
  'InternalServerErrorException',
  'ThrottlingException', // "Rate exceeded" (HTTP 400)
  'TooManyRequestsException',
  'StatementTimeoutException',
  'TimeoutError', // the SDK's connection/request timeout
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError', // a per-call deadline ended the request
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// SQLSTATE classes a retry can cure: connection exception, insufficient resources, operator
// intervention (e.g. 57P03 "the database system is starting up"), lock/serialization/deadlock.
const TRANSIENT_SQLSTATE = /^(08|53|57P|57014|55P03|40001|40P01)/;
const SQL_STATE = /SQLState:\s*([0-9A-Z]{5})/;

interface ErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function isNotYet(node: ErrorShape): boolean {
  const name = typeof node.name === 'string' ? node.name : '';
  const message = typeof node.message === 'string' ? node.message : '';
  const status = node.$metadata?.httpStatusCode;
  if (NOT_YET.has(name)) return true;
  if (typeof status === 'number' && (status === 429 || status >= 500)) return true;
  if (typeof node.code === 'string' && NETWORK_CODES.has(node.code)) return true;
  if (/Communications link failure/i.test(message)) return true;
  if (name === 'BadRequestException') {
    // With a SQLSTATE it is Postgres refusing a statement (transient only for the classes above);
    // without one it is the service saying the database cannot take statements yet.
    const sqlState = SQL_STATE.exec(message)?.[1];
    return sqlState === undefined || TRANSIENT_SQLSTATE.test(sqlState);
  }
  return false;
}

/**
 * True when a failed deploy-time Data API call is worth repeating: our own DependencyUnavailableError,
 * or any error in its `cause` chain (the SDK's original sits there) that means "not ready yet".
 */
export function isTransientDeployError(error: unknown): boolean {
  let node: unknown = error;
  for (let depth = 0; depth < 6 && node !== null && typeof node === 'object'; depth++) {
    if (node instanceof DependencyUnavailableError) return true;
    if (isNotYet(node as ErrorShape)) return true;
    node = (node as ErrorShape).cause;
  }
  return false;
}

export interface BudgetRetryOptions {
  /** Milliseconds the invocation has left (Lambda's context.getRemainingTimeInMillis). */
  readonly remainingMs: () => number;
  /** Kept for the last attempt and the answer: no wait starts that would leave less than this. */
  readonly reserveMs: number;
  readonly baseMs: number;
  /** Cap of one wait: a cluster that is up should not wait long for our next try. */
  readonly maxDelayMs: number;
  readonly isRetryable: (error: unknown) => boolean;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Tests pass a fake that advances their clock. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Calls fn until it succeeds, a non-retryable error occurs, or the budget would not leave `reserveMs`
 * after the next wait; then the last error is thrown. Waits double from baseMs up to maxDelayMs.
 */
export async function retryWithinBudget<T>(fn: () => Promise<T>, options: BudgetRetryOptions): Promise<T> {
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!options.isRetryable(error)) throw error;
      const delayMs = Math.min(options.maxDelayMs, options.baseMs * 2 ** (attempt - 1));
      if (options.remainingMs() - delayMs < options.reserveMs) throw error;
      options.onRetry?.(error, attempt, delayMs);
      await wait(delayMs);
    }
  }
}
