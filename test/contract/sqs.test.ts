// Contract of the SQS adapters (dead-letter queue, ingest fallback queue) against a real SQS-compatible
// endpoint through the real SDK: in-process fauxqs, or TEST_SQS_ENDPOINT. Never mocks the SDK.
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateQueueCommand, DeleteQueueCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsDeadLetterQueue } from '../../lambdas/adapters/sqs/dead-letter-queue.ts';
import { SqsBatchError } from '../../lambdas/adapters/sqs/errors.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { DependencyUnavailableError } from '../../lambdas/errors.ts';
import type { DeadLetter, FallbackMessage, IngestFallbackQueue } from '../../lambdas/ports.ts';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { uniqueName } from '../support/services.ts';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const REGION = process.env.AWS_REGION ?? 'us-east-1';
/** An SQS-compatible endpoint to test against instead of an in-process fauxqs (LocalStack, the local:sqs CLI). */
const externalEndpoint = process.env.TEST_SQS_ENDPOINT;

let local: LocalSqs | undefined;
let client: SQSClient;
const createdQueues: string[] = [];
/** Command names the client sent, in order: how a test sees the batching. */
const sentCommands: string[] = [];

async function newQueue(attributes: Record<string, string> = {}): Promise<string> {
  const output = await client.send(new CreateQueueCommand({ QueueName: uniqueName('ef_sqs'), Attributes: attributes }));
  if (!output.QueueUrl) throw new Error('CreateQueue returned no QueueUrl');
  createdQueues.push(output.QueueUrl);
  return output.QueueUrl;
}

const countOf = (command: string): number => sentCommands.filter((name) => name === command).length;

/** Receives (with attributes) until `count` messages arrived or nothing more comes. */
async function receiveRaw(queueUrl: string, count: number): Promise<Message[]> {
  const received: Message[] = [];
  while (received.length < count) {
    const output = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    if (!output.Messages?.length) break;
    received.push(...output.Messages);
  }
  return received;
}

async function receiveAll(queue: IngestFallbackQueue, count: number): Promise<FallbackMessage[]> {
  const received: FallbackMessage[] = [];
  while (received.length < count) {
    const batch = await queue.receive({ max: 10, waitSeconds: 1 });
    if (batch.length === 0) break;
    received.push(...batch);
  }
  return received;
}

const sorted = (values: readonly string[]): string[] => [...values].sort();

beforeAll(async () => {
  let endpoint = externalEndpoint;
  if (!endpoint) {
    local = await startLocalSqs({ port: 0, queues: [] });
    endpoint = local.endpoint;
  }
  client = createSqsClient({ endpoint, region: REGION, credentials: CREDENTIALS });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sentCommands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'recordCommandNames' },
  );
});

afterAll(async () => {
  // Best effort: the in-process endpoint vanishes anyway; an external one keeps no test queues.
  await Promise.allSettled(createdQueues.map((url) => client.send(new DeleteQueueCommand({ QueueUrl: url }))));
  client?.destroy();
  await local?.close();
});

beforeEach(() => {
  sentCommands.length = 0;
});

describe('SQS dead-letter queue', () => {
  const letter = (i: number): DeadLetter => ({
    eventId: `evt-${String(i).padStart(2, '0')}`,
    payload: { order: i, note: 'crème brûlée – 東京', nested: { list: [1, 'two', null] } },
    errorType: i % 2 === 0 ? 'ValidationError' : 'SqlStatementError',
    errorMessage: `attempt ${i} failed: "quoted" \n newline`,
    attempts: i,
    failedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, i)).toISOString(),
  });

  it('delivers 15 letters in 2 batches with body and attributes intact', async () => {
    // Arrange
    const queueUrl = await newQueue();
    const letters = Array.from({ length: 15 }, (_, i) => letter(i + 1));

    // Act
    await createSqsDeadLetterQueue(client, queueUrl).send(letters);

    // Assert
    expect(countOf('SendMessageBatchCommand')).toBe(2);
    const received = await receiveRaw(queueUrl, 15);
    expect(received).toHaveLength(15);
    const byEventId = new Map(received.map((m) => [m.MessageAttributes?.event_id?.StringValue, m]));
    for (const expected of letters) {
      const message = byEventId.get(expected.eventId);
      expect(message, expected.eventId).toBeDefined();
      expect(JSON.parse(message?.Body ?? 'null')).toEqual({
        event_id: expected.eventId,
        payload: expected.payload,
        error_type: expected.errorType,
        error_message: expected.errorMessage,
        attempts: expected.attempts,
        failed_at: expected.failedAt,
      });
      expect(message?.MessageAttributes).toEqual({
        event_id: { DataType: 'String', StringValue: expected.eventId },
        error_type: { DataType: 'String', StringValue: expected.errorType },
        attempts: { DataType: 'Number', StringValue: String(expected.attempts) },
      });
    }
  });

  it('delivers payloads with characters SQS bodies cannot hold raw (emoji, U+FFFF, NUL) unchanged', async () => {
    const queueUrl = await newQueue();
    const payload = { text: 'rocket 🚀, flag 🇯🇵, nonchar \uFFFF, nul \u0000, lone \uD800' };

    await createSqsDeadLetterQueue(client, queueUrl).send([{ ...letter(1), payload }]);

    const [message] = await receiveRaw(queueUrl, 1);
    // A lone surrogate cannot survive UTF-8 anywhere; JSON.stringify escapes it so it round-trips.
    expect(JSON.parse(message?.Body ?? 'null').payload).toEqual(payload);
  });

  it('sends nothing for an empty list', async () => {
    const queueUrl = await newQueue();
    await createSqsDeadLetterQueue(client, queueUrl).send([]);
    expect(countOf('SendMessageBatchCommand')).toBe(0);
  });
});

describe('SQS ingest fallback queue', () => {
  it('round-trips 25 bodies (unicode, ~30 KB) through send, receive and delete', async () => {
    // Arrange
    const queue = createSqsIngestFallbackQueue(client, await newQueue());
    const unicode = [
      'héllo wörld',
      '日本語のテキスト',
      'مرحبا بالعالم',
      'Привет, мир',
      '€ ✓ ∑ — “quotes”',
      'tab\tand\r\nnewlines',
    ];
    const large = JSON.stringify({ blob: 'x'.repeat(30 * 1024), tail: 'ü' });
    const bodies = [...unicode, large, ...Array.from({ length: 25 - unicode.length - 1 }, (_, i) => `{"n":${i}}`)];

    // Act
    await queue.send(bodies);
    const received = await receiveAll(queue, bodies.length);
    await queue.delete(received.map((m) => m.receiptHandle));

    // Assert
    expect(countOf('SendMessageBatchCommand')).toBe(3);
    expect(sorted(received.map((m) => m.body))).toEqual(sorted(bodies));
    expect(countOf('DeleteMessageBatchCommand')).toBe(3);
    expect(await queue.receive({ max: 10, waitSeconds: 0 })).toEqual([]);
  });

  it('carries JSON bodies with characters beyond U+FFFF (emoji) unchanged in meaning', async () => {
    const queue = createSqsIngestFallbackQueue(client, await newQueue());
    const events = [{ note: 'rocket 🚀' }, { note: '𝄞 music' }];

    // Bodies are JSON text; the adapter escapes astral characters (\uXXXX) so every endpoint takes
    // them (fauxqs 1.9.2 refuses them raw; AWS accepts either), and the JSON value is the same.
    await queue.send(events.map((event) => JSON.stringify(event)));
    const received = await receiveAll(queue, events.length);
    expect(sorted(received.map((m) => JSON.stringify(JSON.parse(m.body))))).toEqual(sorted(events.map((e) => JSON.stringify(e))));
  });

  it('splits a batch by size as well as by count (10 × 30 KB exceeds 256 KiB)', async () => {
    const queue = createSqsIngestFallbackQueue(client, await newQueue());
    const bodies = Array.from({ length: 10 }, (_, i) => `${i}:${'y'.repeat(30 * 1024)}`);

    await queue.send(bodies);

    expect(countOf('SendMessageBatchCommand')).toBe(2);
    const received = await receiveAll(queue, bodies.length);
    expect(sorted(received.map((m) => m.body))).toEqual(sorted(bodies));
  });

  it('does not return deleted messages once their visibility timeout has passed', async () => {
    // Arrange: a 1 s visibility timeout, so a message that was not deleted comes back quickly.
    const queue = createSqsIngestFallbackQueue(client, await newQueue({ VisibilityTimeout: '1' }));
    await queue.send(['delete-me-1', 'delete-me-2', 'keep-me']);
    const first = await receiveAll(queue, 3);
    expect(first).toHaveLength(3);

    // Act
    await queue.delete(first.filter((m) => m.body.startsWith('delete-me')).map((m) => m.receiptHandle));
    await sleep(1_500);

    // Assert: only the undeleted message is redelivered (which also shows redelivery is observable).
    // One call: a loop would see keep-me again each time its 1 s visibility runs out.
    const again = await queue.receive({ max: 10, waitSeconds: 1 });
    expect(again.map((m) => m.body)).toEqual(['keep-me']);
  });

  it('receives at most 10 messages per call, even when asked for more', async () => {
    const queue = createSqsIngestFallbackQueue(client, await newQueue());
    await queue.send(Array.from({ length: 12 }, (_, i) => `m${i}`));

    const batch = await queue.receive({ max: 50, waitSeconds: 1 });

    expect(batch.length).toBeGreaterThan(0);
    expect(batch.length).toBeLessThanOrEqual(10);
  });

  it('reports which bodies SQS refused, and still delivers the others', async () => {
    const queue = createSqsIngestFallbackQueue(client, await newQueue());

    const error = await queue.send(['fine', 'nul \u0000 inside', 'also fine']).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SqsBatchError);
    expect((error as SqsBatchError).failures.map((f) => f.item)).toEqual(['#1']);
    expect((error as Error).message).toContain('#1');
    const received = await receiveAll(queue, 2);
    expect(sorted(received.map((m) => m.body))).toEqual(['also fine', 'fine']);
  });

  it('does nothing for empty sends, deletes and max 0', async () => {
    const queue = createSqsIngestFallbackQueue(client, await newQueue());
    await queue.send([]);
    await queue.delete([]);
    expect(await queue.receive({ max: 0 })).toEqual([]);
    expect(sentCommands).toEqual(['CreateQueueCommand']);
  });
});

describe('SQS adapters when the endpoint is unreachable', () => {
  const unreachable = 'http://127.0.0.1:1';
  const queueUrl = `${unreachable}/000000000000/nowhere`;
  let deadClient: SQSClient;

  beforeAll(() => {
    // One attempt and short timeouts: the error must surface fast, not after SDK back-off.
    deadClient = createSqsClient({
      endpoint: unreachable,
      region: REGION,
      credentials: CREDENTIALS,
      maxAttempts: 1,
      connectionTimeoutMs: 500,
      requestTimeoutMs: 1_000,
    });
  });

  afterAll(() => {
    deadClient.destroy();
  });

  const anyLetter: DeadLetter = {
    eventId: 'e1',
    payload: {},
    errorType: 'ValidationError',
    errorMessage: 'x',
    attempts: 1,
    failedAt: new Date(0).toISOString(),
  };
  const cases: Array<[string, () => Promise<unknown>]> = [
    ['dead letter send', () => createSqsDeadLetterQueue(deadClient, queueUrl).send([anyLetter])],
    ['fallback send', () => createSqsIngestFallbackQueue(deadClient, queueUrl).send(['a'])],
    ['fallback receive', () => createSqsIngestFallbackQueue(deadClient, queueUrl).receive({ max: 1, waitSeconds: 0 })],
    ['fallback delete', () => createSqsIngestFallbackQueue(deadClient, queueUrl).delete(['handle'])],
  ];

  it.each(cases)("%s rejects quickly with DependencyUnavailableError('queue')", async (_name, act) => {
    const started = Date.now();

    const error = await act().then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe('queue');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
