// Retrying a call a few times with exponential backoff, for one-off jobs that must ride out a short
// outage (Aurora resuming from auto-pause). Not for the pipeline: its retries live in the stream.
import { isTransient } from '../errors.ts';

export interface RetryOptions {
  readonly attempts: number;
  readonly baseMs: number;
  readonly isRetryable?: (error: unknown) => boolean;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export async function withRetries<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retryable = options.isRetryable ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= options.attempts || !retryable(error)) throw error;
      const delayMs = options.baseMs * 2 ** (attempt - 1);
      options.onRetry?.(error, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
