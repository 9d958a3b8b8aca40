// Maps Redis client errors (ioredis, Upstash) to EventFlow's error types: anything that means
// "could not talk to Redis" is a DependencyUnavailableError('stream'), a lost group a
// StreamGroupMissingError; any other command error stays an Error.
import { DependencyUnavailableError, StreamGroupMissingError } from '../../errors.ts';

const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EPIPE|EHOSTUNREACH|EAI_AGAIN|Connection is closed|MaxRetriesPerRequest|enableOfflineQueue|Command timed out|LOADING|BUSY |MASTERDOWN|TRYAGAIN|fetch failed|socket hang up|Too Many Requests|Service Unavailable|Bad Gateway|Gateway Timeout/i;

export function classifyRedisError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown })?.code;
  // NOGROUP: the group is gone; UNBLOCKED: the key vanished under a blocked XREADGROUP.
  if (/^(NOGROUP|UNBLOCKED)\b/.test(message)) return new StreamGroupMissingError(message, { cause: error });
  if (UNAVAILABLE.test(message) || (typeof code === 'string' && UNAVAILABLE.test(code))) {
    return new DependencyUnavailableError('stream', `redis unavailable: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}
