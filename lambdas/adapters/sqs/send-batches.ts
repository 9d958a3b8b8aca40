// Sends messages to one queue in as few SendMessageBatch calls as SQS allows (10 entries, a byte
// budget). Never reports success for an entry SQS did not take: one thrown error names them all.
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { DependencyUnavailableError } from '../../errors.ts';
import { chunkBySize } from '../../shared/chunks.ts';
import { callSignal } from '../deadline.ts';
import { batchFailure, type SqsEntryFailure, sendClassified } from './errors.ts';
import { MAX_BATCH_ENTRIES, messageBytes, type OutgoingMessage } from './limits.ts';

/** Longest a send or delete may take (the invocation's deadline may cut it shorter: lambdas/adapters/deadline.ts). */
export const CALL_CAP_MS = 10_000;

export interface SqsQueueOptions {
  /** Upper bound of one SendMessageBatch (bodies + attributes, UTF-8 bytes). */
  readonly maxBatchBytes?: number;
}

/**
 * Sends every batch (concurrently: ingest waits on this while Postgres is down), then throws once:
 * a request error if any request failed, else the refused entries. Entries already accepted stay
 * sent, so a caller that retries the whole call may duplicate some (consumers dedupe by event id).
 */
export async function sendBatches(
  client: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage[],
  what: string,
  maxBytes: number,
): Promise<void> {
  const chunks = chunkBySize(messages, messageBytes, maxBytes, MAX_BATCH_ENTRIES);
  const results = await Promise.allSettled(
    chunks.map(async (chunk) => {
      const byId = new Map<string, OutgoingMessage>();
      const requestEntries: SendMessageBatchRequestEntry[] = chunk.map((message, i) => {
        const id = `m${i}`;
        byId.set(id, message);
        return { Id: id, MessageBody: message.body, ...(message.attributes ? { MessageAttributes: message.attributes } : {}) };
      });
      const output = await sendClassified(() =>
        client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: requestEntries }), {
          abortSignal: callSignal(CALL_CAP_MS),
        }),
      );
      return (output.Failed ?? []).map(
        (failed): SqsEntryFailure => ({
          item: byId.get(failed.Id ?? '')?.item ?? String(failed.Id),
          code: failed.Code ?? 'Unknown',
          message: failed.Message ?? '',
          senderFault: failed.SenderFault ?? true,
        }),
      );
    }),
  );
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (rejected.length > 0) {
    throw rejected.find((e) => e instanceof DependencyUnavailableError) ?? rejected[0];
  }
  const failures = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  if (failures.length > 0) throw batchFailure(what, messages.length, failures);
}
