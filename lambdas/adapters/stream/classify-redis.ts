// Maps Redis client errors (ioredis, Upstash) to EventFlow's error types: anything that means
// "could not talk to Redis" is a DependencyUnavailableError('stream'), a lost group a
// StreamGroupMissingError; any other command error stays an Error.
import { DependencyUnavailableError, StreamGroupMissingError } from '../../errors.ts';
import { messageOf, transportFailure } from '../transport-failure.ts';

export function classifyRedisError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError || error instanceof StreamGroupMissingError) return error;
  const message = messageOf(error);
  // NOGROUP: the group is gone; UNBLOCKED: the key vanished under a blocked XREADGROUP.
  if (/^(NOGROUP|UNBLOCKED)\b/.test(message)) return new StreamGroupMissingError(message, { cause: error });
  if (transportFailure(error)) {
    return new DependencyUnavailableError('stream', `redis unavailable: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message, { cause: error });
}
