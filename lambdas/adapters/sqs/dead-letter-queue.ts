// The DeadLetterQueue port over SQS: one message per dead letter, JSON body plus filterable attributes.
// Never drops a letter silently: sendBatches throws for any entry SQS did not take.
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetter, DeadLetterQueue } from '../../ports.ts';
import { toSqsJson } from './json.ts';
import { DEFAULT_MAX_BATCH_BYTES, type OutgoingMessage } from './limits.ts';
import { type SqsQueueOptions, sendBatches } from './send-batches.ts';

export function deadLetterBody(letter: DeadLetter): string {
  return toSqsJson({
    event_id: letter.eventId,
    payload: letter.payload ?? null,
    error_type: letter.errorType,
    error_message: letter.errorMessage,
    attempts: letter.attempts,
    failed_at: letter.failedAt,
  });
}

/** Dead letters carry event_id/error_type/attempts as attributes too, so a redrive tool can filter without parsing. */
export function createSqsDeadLetterQueue(client: SQSClient, queueUrl: string, options: SqsQueueOptions = {}): DeadLetterQueue {
  const maxBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  return {
    async send(letters) {
      if (letters.length === 0) return;
      const messages = letters.map(
        (letter): OutgoingMessage => ({
          item: letter.eventId,
          body: deadLetterBody(letter),
          attributes: {
            // SQS refuses empty attribute values; an empty one is simply left out.
            ...(letter.eventId ? { event_id: { DataType: 'String', StringValue: letter.eventId } } : {}),
            ...(letter.errorType ? { error_type: { DataType: 'String', StringValue: letter.errorType } } : {}),
            attempts: { DataType: 'Number', StringValue: String(letter.attempts) },
          },
        }),
      );
      await sendBatches(client, queueUrl, messages, 'dead letters', maxBytes);
    },
  };
}
