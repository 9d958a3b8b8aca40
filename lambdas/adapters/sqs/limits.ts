// SQS's limits and the size of a batch as SQS counts it, so batches are split before SQS refuses them.
// Pure: no client, no I/O.
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';

/** SQS takes at most 10 entries per batch request. */
export const MAX_BATCH_ENTRIES = 10;
/**
 * Sum of bodies and attributes in one SendMessageBatch. SQS now accepts 1 MiB, but queues created
 * before that (or with MaximumMessageSize lowered) still reject batches above 256 KiB.
 */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
/** ReceiveMessage rejects WaitTimeSeconds above 20. */
export const MAX_WAIT_SECONDS = 20;

/** A message about to be sent; `item` names it in errors (event id, or input position). */
export interface OutgoingMessage {
  readonly item: string;
  readonly body: string;
  readonly attributes?: Record<string, MessageAttributeValue>;
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** Size as SQS counts it: body plus each attribute's name, data type and value. */
export function messageBytes(message: OutgoingMessage): number {
  let size = utf8Bytes(message.body);
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    size += utf8Bytes(name) + utf8Bytes(value.DataType ?? '') + utf8Bytes(value.StringValue ?? '');
    size += value.BinaryValue?.byteLength ?? 0;
  }
  return size;
}

export function chunkByCount<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_BATCH_ENTRIES) chunks.push(items.slice(i, i + MAX_BATCH_ENTRIES));
  return chunks;
}
