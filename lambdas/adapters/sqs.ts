// DeadLetterQueue and IngestFallbackQueue over @aws-sdk/client-sqs (AWS SQS, or a local endpoint in dev).
// Never loses a message silently: a batch entry SQS did not take is reported by a thrown error.
import {
  DeleteMessageBatchCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { chunkBySize } from '../chunks.ts';
import { callSignal, callTimeoutMs, timeLeftMs } from '../deadline.ts';
import { DependencyUnavailableError } from '../errors.ts';
import type { DeadLetter, DeadLetterQueue, FallbackMessage, IngestFallbackQueue } from '../ports.ts';
import { messageOf, transportFailure } from './transport-failure.ts';

/** SQS takes at most 10 entries per batch request. */
const MAX_BATCH_ENTRIES = 10;
/**
 * Sum of bodies and attributes in one SendMessageBatch. SQS now accepts 1 MiB, but queues created
 * before that (or with MaximumMessageSize lowered) still reject batches above 256 KiB.
 */
export const DEFAULT_MAX_BATCH_BYTES = 256 * 1024;
/** ReceiveMessage rejects WaitTimeSeconds above 20. */
const MAX_WAIT_SECONDS = 20;
/** Longest a send or delete may take (the invocation's deadline may cut it shorter: lambdas/deadline.ts). */
const CALL_CAP_MS = 10_000;
/** How much longer than its long poll a receive may take before it counts as hanging. */
const RECEIVE_SLACK_MS = 5_000;

export interface SqsClientOptions {
  /** Set for a local endpoint; the SDK then sends every call there and treats queue URLs as ids. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static credentials (local endpoints accept anything); omit to use the SDK's default chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** SDK attempts per call, first one included (SDK default 3). */
  readonly maxAttempts?: number;
  readonly connectionTimeoutMs?: number;
  /** Socket idle timeout; must stay above the longest long poll (20 s) or receives would time out. */
  readonly requestTimeoutMs?: number;
}

/** One client per container: it keeps the connection pool and the resolved credentials warm. */
export function createSqsClient(options: SqsClientOptions = {}): SQSClient {
  return new SQSClient({
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    // Without timeouts a black-holed endpoint holds the Lambda until its own timeout.
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? (MAX_WAIT_SECONDS + 5) * 1_000,
    },
  });
}

export interface SqsQueueOptions {
  /** Upper bound of one SendMessageBatch (bodies + attributes, UTF-8 bytes). */
  readonly maxBatchBytes?: number;
}

/** Network failures, timeouts, throttling and 5xx → DependencyUnavailableError('queue'); anything else unchanged. */
export function classifySqsError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError) return error;
  const message = messageOf(error);
  if (transportFailure(error)) {
    return new DependencyUnavailableError('queue', `sqs unavailable: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
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

function batchFailure(what: string, total: number, failures: readonly SqsEntryFailure[]): Error {
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

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw classifySqsError(error);
  }
}

interface PendingEntry {
  readonly item: string;
  readonly body: string;
  readonly attributes?: Record<string, MessageAttributeValue>;
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** Size as SQS counts it: body plus each attribute's name, data type and value. */
function entryBytes(entry: PendingEntry): number {
  let size = utf8Bytes(entry.body);
  for (const [name, value] of Object.entries(entry.attributes ?? {})) {
    size += utf8Bytes(name) + utf8Bytes(value.DataType ?? '') + utf8Bytes(value.StringValue ?? '');
    size += value.BinaryValue?.byteLength ?? 0;
  }
  return size;
}

function chunkByCount<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += MAX_BATCH_ENTRIES) chunks.push(items.slice(i, i + MAX_BATCH_ENTRIES));
  return chunks;
}

/**
 * Sends every batch (concurrently: ingest waits on this while Postgres is down), then throws once:
 * a request error if any request failed, else the refused entries. Entries already accepted stay
 * sent, so a caller that retries the whole call may duplicate some (consumers dedupe by event id).
 */
async function sendAll(client: SQSClient, queueUrl: string, entries: readonly PendingEntry[], what: string, maxBytes: number) {
  const chunks = chunkBySize(entries, entryBytes, maxBytes, MAX_BATCH_ENTRIES);
  const results = await Promise.allSettled(
    chunks.map(async (chunk) => {
      const byId = new Map<string, PendingEntry>();
      const requestEntries: SendMessageBatchRequestEntry[] = chunk.map((entry, i) => {
        const id = `m${i}`;
        byId.set(id, entry);
        return { Id: id, MessageBody: entry.body, ...(entry.attributes ? { MessageAttributes: entry.attributes } : {}) };
      });
      const output = await call(() =>
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
  if (failures.length > 0) throw batchFailure(what, entries.length, failures);
}

/**
 * JSON for a message body that every SQS endpoint takes. SQS refuses U+FFFE/U+FFFF, which
 * JSON.stringify leaves raw; fauxqs 1.9.2 (the local endpoint) also refuses characters beyond U+FFFF
 * (emoji), which AWS accepts. Escaped as \uXXXX the text is the same JSON value, only longer.
 */
export const toSqsJson = (value: unknown): string => toSqsText(JSON.stringify(value));

/** The same escape for JSON text already serialized (those characters can only sit inside its strings). */
export const toSqsText = (json: string): string =>
  json.replace(/[\uD800-\uDFFF\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

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
      const entries = letters.map(
        (letter): PendingEntry => ({
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
      await sendAll(client, queueUrl, entries, 'dead letters', maxBytes);
    },
  };
}

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
      const entries = bodies.map((body, index): PendingEntry => ({ item: `#${index}`, body: toSqsText(body) }));
      await sendAll(client, queueUrl, entries, 'fallback messages', maxBytes);
    },
    async receive({ max, waitSeconds }) {
      if (max < 1) return [];
      const wait = longPollSeconds(waitSeconds);
      const output = await call(() =>
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
        const output = await call(() =>
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
