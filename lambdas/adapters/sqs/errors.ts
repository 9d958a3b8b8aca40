// SQS failures in EventFlow's error types: whole calls by the shared transport test, refused batch
// entries by who SQS blames. Every SDK call of the queues goes through sendClassified.
import { DependencyUnavailableError } from '../../errors.ts';
import { messageOf, transportFailure } from '../transport-failure.ts';

/** Network failures, timeouts, throttling and 5xx → DependencyUnavailableError('queue'); anything else unchanged. */
export function classifySqsError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError) return error;
  const message = messageOf(error);
  if (transportFailure(error)) {
    return new DependencyUnavailableError('queue', `sqs unavailable: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}

/** Runs one SDK call (client.send) with its failure classified. */
export async function sendClassified<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw classifySqsError(error);
  }
}

/** One batch entry SQS refused. `item` names it for the caller (event id, or input position). */
export interface SqsEntryFailure {
  readonly item: string;
  readonly code: string;
  readonly message: string;
  /** False when SQS says the fault was on its side (a retry may succeed). */
  readonly senderFault: boolean;
}

/** Some entries of a batch call were refused; the others went through. */
export class SqsBatchError extends Error {
  override readonly name = 'SqsBatchError';
  constructor(
    message: string,
    readonly failures: readonly SqsEntryFailure[],
  ) {
    super(message);
  }
}

export function batchFailure(what: string, total: number, failures: readonly SqsEntryFailure[]): Error {
  const shown = failures
    .slice(0, 10)
    .map((f) => `${f.item} (${f.code}: ${f.message})`)
    .join('; ');
  const more = failures.length > 10 ? `; … ${failures.length - 10} more` : '';
  const error = new SqsBatchError(`${failures.length} of ${total} ${what} failed: ${shown}${more}`, failures);
  // Only server-side faults are SQS being unwell; a sender fault will fail the same way again.
  if (failures.every((f) => !f.senderFault)) {
    return new DependencyUnavailableError('queue', `sqs unavailable: ${error.message}`, { cause: error });
  }
  return error;
}
