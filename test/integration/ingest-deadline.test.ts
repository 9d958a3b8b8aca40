// The ingest Lambda against dependencies that accept and never answer, or answer late (a TCP proxy in
// front of the local Data API, Upstash REST and SQS endpoints): it answers 202 via the fallback queue or
// 503 with Retry-After before the invocation's time is up, the way lambdas/ingest/handler.ts is wired.
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withInvocationDeadline } from '../../lambdas/adapters/deadline.ts';
import { createDataApiExecutor } from '../../lambdas/adapters/sql/data-api.ts';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { createUpstashStream } from '../../lambdas/adapters/stream/upstash.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../lambdas/ingest/uuidv7.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { type SqlExecutor, sqlUuid, systemClock } from '../../lambdas/ports.ts';
import { type DataApiServer, startDataApiServer } from '../../scripts/local-endpoints/data-api.ts';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { startUpstashRestServer, type UpstashRestServer } from '../../scripts/local-endpoints/upstash-rest.ts';
import { apiRequest, lambdaContext, purchase } from '../support/events.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/** The simulated Lambda timeout: below the Data API client's own 50 s (production: 15 s) and Upstash's 5 s. */
const INVOCATION_MS = 4000;
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

let db: TestDatabase;
let dataApi: DataApiServer;
let upstash: UpstashRestServer;
let sqs: LocalSqs;
let fallbackUrl: string;
let reader: SQSClient;
/** The database straight through the endpoint, not through a proxy a test hung. */
let direct: SqlExecutor;

const ARNS = {
  resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:deadline-test',
  secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:deadline-test',
};

beforeAll(async () => {
  db = await createTestDatabase();
  dataApi = await startDataApiServer({ databaseUrl: db.url });
  upstash = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: uniqueName('token') });
  sqs = await startLocalSqs({ queues: [uniqueName('fallback')] });
  fallbackUrl = Object.values(sqs.queueUrls)[0] as string;
  reader = createSqsClient({ endpoint: sqs.endpoint, region: REGION, credentials: CREDENTIALS });
  direct = createDataApiExecutor({ ...ARNS, database: db.name, endpoint: dataApi.url, region: REGION });
});

afterAll(async () => {
  reader?.destroy();
  await direct?.close();
  await Promise.all([dataApi?.close(), upstash?.close(), sqs?.close()]);
  await db?.drop();
});

/** The three dependencies behind proxies a test can hang or slow down, and the handler over them. */
interface Wiring {
  readonly database: TcpProxy;
  readonly redis: TcpProxy;
  readonly queue: TcpProxy;
  handle(body: unknown): Promise<{ response: APIGatewayProxyResult; elapsedMs: number }>;
  close(): Promise<void>;
}

async function wire(): Promise<Wiring> {
  const target = (url: string) => ({ host: '127.0.0.1', port: Number(new URL(url).port) });
  const [database, redis, queue] = await Promise.all([
    TcpProxy.start(target(dataApi.url)),
    TcpProxy.start(target(upstash.url)),
    TcpProxy.start(target(sqs.endpoint)),
  ]);
  // The adapters build their own clients, as deps.ts does in the Lambda: their timeouts are under test.
  const sql = createDataApiExecutor({
    ...ARNS,
    database: db.name,
    endpoint: `http://127.0.0.1:${database.port}`,
    region: REGION,
  });
  const stream = createUpstashStream({
    url: `http://127.0.0.1:${redis.port}`,
    token: upstash.token,
    streamKey: uniqueName('events'),
    group: 'workers',
  });
  const sqsClient = createSqsClient({ endpoint: `http://127.0.0.1:${queue.port}`, region: REGION, credentials: CREDENTIALS });
  const handler = withInvocationDeadline(
    createIngestApp({
      sql,
      stream,
      fallback: createSqsIngestFallbackQueue(sqsClient, fallbackUrl),
      clock: systemClock,
      newId: uuidv7,
      metrics: createPrometheusMetrics(),
      logger: createQuietLogger().logger,
    }),
  );
  return {
    database,
    redis,
    queue,
    async handle(body) {
      const started = Date.now();
      const response = await handler(apiRequest('POST', '/events', { body }), lambdaContext(INVOCATION_MS));
      return { response, elapsedMs: Date.now() - started };
    },
    async close() {
      await sql.close();
      sqsClient.destroy();
      await Promise.all([database.close(), redis.close(), queue.close()]);
    },
  };
}

/** Event ids of the fallback messages received (each body is one event's JSON). */
async function fallbackEventIds(): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const output = await reader.send(
      new ReceiveMessageCommand({ QueueUrl: fallbackUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }),
    );
    if (!output.Messages?.length) return ids;
    for (const message of output.Messages) ids.push((JSON.parse(message.Body ?? '{}') as { event_id: string }).event_id);
  }
}

const storedRows = (eventId: string) => countRows(direct, 'raw_events', 'event_id = :id', { id: sqlUuid(eventId) });

/** Posts one event and expects 202 with the event handed to the fallback queue, before the invocation's time is up. */
async function expectAcceptedViaFallback(): Promise<{ event: ReturnType<typeof purchase>; response: APIGatewayProxyResult }> {
  const event = purchase();

  const { response, elapsedMs } = await wiring.handle(event);

  expect(response.statusCode).toBe(202);
  expect(await fallbackEventIds()).toContain(event.event_id);
  expect(elapsedMs).toBeLessThan(INVOCATION_MS);
  return { event, response };
}

let wiring: Wiring;

beforeEach(async () => {
  wiring = await wire();
});

afterEach(async () => {
  await wiring.close();
});

describe('ingest handler under an invocation deadline', () => {
  it('stores the event through a healthy path (the deadline does not cut normal calls)', async () => {
    const event = purchase();

    const { response } = await wiring.handle(event);

    expect(response.statusCode).toBe(202);
    expect(await storedRows(event.event_id)).toBe(1);
  });

  it('a Data API endpoint that accepts and never answers: 202 via the fallback queue, before the deadline', async () => {
    wiring.database.hang();

    const { event, response } = await expectAcceptedViaFallback();

    expect(JSON.parse(response.body)).toMatchObject({ event_id: event.event_id, status: 'accepted' });
  });

  it('a Data API endpoint that answers after the time left: 202 via the fallback queue, before the deadline', async () => {
    wiring.database.slow(INVOCATION_MS + 2000);

    await expectAcceptedViaFallback();
  });

  it('a slow Data API endpoint that still answers in time: stored in the database, not the fallback', async () => {
    wiring.database.slow(200);
    const event = purchase();

    const { response } = await wiring.handle(event);

    expect(response.statusCode).toBe(202);
    expect(await storedRows(event.event_id)).toBe(1);
    expect(await fallbackEventIds()).not.toContain(event.event_id);
  });

  it('the Data API and the SQS endpoint both hang: 503 with Retry-After, before the deadline', async () => {
    wiring.database.hang();
    wiring.queue.hang();

    const { response, elapsedMs } = await wiring.handle(purchase());

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBeDefined();
    expect(JSON.parse(response.body)).toMatchObject({ error: 'service_unavailable' });
    expect(elapsedMs).toBeLessThan(INVOCATION_MS);
  });

  it('the Data API hangs and the SQS endpoint answers after the time left: 503 with Retry-After, before the deadline', async () => {
    wiring.database.hang();
    wiring.queue.slow(INVOCATION_MS + 2000);

    const { response, elapsedMs } = await wiring.handle(purchase());

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBeDefined();
    expect(elapsedMs).toBeLessThan(INVOCATION_MS);
  });

  it('the Upstash endpoint answers after the time left: 202, the row stored and handed to the fallback queue to publish', async () => {
    wiring.redis.slow(INVOCATION_MS + 2000);

    const { event } = await expectAcceptedViaFallback();

    expect(await storedRows(event.event_id)).toBe(1);
  });

  it('the Upstash endpoint hangs after the row is stored: 202, and the event is handed to the fallback queue to publish', async () => {
    wiring.redis.hang();

    const { event } = await expectAcceptedViaFallback();

    expect(await storedRows(event.event_id)).toBe(1);
  });
});
