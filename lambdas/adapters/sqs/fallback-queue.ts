// The IngestFallbackQueue port over SQS: ingest parks events here while Postgres is unreachable and
// the consumer drains them. Bodies are JSON text; never reports a refused send or delete as done.
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { FallbackMessage, IngestFallbackQueue } from '../../ports.ts';
import { callSignal, callTimeoutMs, timeLeftMs } from '../deadline.ts';
import { batchFailure, type SqsEntryFailure, sendClassified } from './errors.ts';
import { toSqsText } from './json.ts';
import { chunkByCount, DEFAULT_MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_WAIT_SECONDS, type OutgoingMessage } from './limits.ts';
import { CALL_CAP_MS, type SqsQueueOptions, sendBatches } from './send-batches.ts';

/** How much longer than its long poll a receive may take before it counts as hanging. */
const RECEIVE_SLACK_MS = 5_000;

/**
 * The long poll to ask for: what the caller asked (at most 20 s), shortened under a deadline so an
 * empty poll ends with time to spare instead of as a timeout. Unasked, the queue's default applies.
 */
function longPollSeconds(waitSeconds: number | undefined): number | undefined {
  if (waitSeconds === undefined) return undefined;
  const asked = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(waitSeconds)));
  if (!Number.isFinite(timeLeftMs())) return asked;
  const fits = Math.floor((callTimeoutMs(MAX_WAIT_SECONDS * 1000 + RECEIVE_SLACK_MS) - 1000) / 1000);
  return Math.max(0, Math.min(asked, fits));
}

export function createSqsIngestFallbackQueue(
  client: SQSClient,
  queueUrl: string,
  options: SqsQueueOptions = {},
): IngestFallbackQueue {
  const maxBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  return {
    async send(bodies) {
      if (bodies.length === 0) return;
      // Bodies are JSON text (IngestFallbackQueue's contract), so the escape keeps their meaning.
      const entries = bodies.map((body, index): OutgoingMessage => ({ item: `#${index}`, body: toSqsText(body) }));
      await sendBatches(client, queueUrl, entries, 'fallback messages', maxBytes);
    },
    async receive({ max, waitSeconds }) {
      if (max < 1) return [];
      const wait = longPollSeconds(waitSeconds);
      const output = await sendClassified(() =>
        client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(MAX_BATCH_ENTRIES, Math.floor(max)),
            // Omitted, the queue's ReceiveMessageWaitTimeSeconds applies.
            ...(wait !== undefined ? { WaitTimeSeconds: wait } : {}),
          }),
          { abortSignal: callSignal((wait ?? MAX_WAIT_SECONDS) * 1000 + RECEIVE_SLACK_MS) },
        ),
      );
      const messages: FallbackMessage[] = [];
      for (const message of output.Messages ?? []) {
        if (message.ReceiptHandle !== undefined && message.Body !== undefined) {
          messages.push({ receiptHandle: message.ReceiptHandle, body: message.Body });
        }
      }
      return messages;
    },
    async delete(receiptHandles) {
      if (receiptHandles.length === 0) return;
      const chunks = chunkByCount(receiptHandles.map((handle, index) => ({ handle, index })));
      const failures: SqsEntryFailure[] = [];
      // Sequential: deletes run after the events are safe in Postgres, so latency matters less than load.
      for (const chunk of chunks) {
        const output = await sendClassified(() =>
          client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map(({ handle }, i) => ({ Id: `d${i}`, ReceiptHandle: handle })),
            }),
            { abortSignal: callSignal(CALL_CAP_MS) },
          ),
        );
        for (const failed of output.Failed ?? []) {
          const position = Number(failed.Id?.slice(1));
          const entry = chunk[position];
          failures.push({
            item: entry ? `#${entry.index}` : String(failed.Id),
            code: failed.Code ?? 'Unknown',
            message: failed.Message ?? '',
            senderFault: failed.SenderFault ?? true,
          });
        }
      }
      if (failures.length > 0) throw batchFailure('deletes', receiptHandles.length, failures);
    },
  };
}
