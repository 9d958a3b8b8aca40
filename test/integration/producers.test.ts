// Per-producer API keys through the real app on the real Postgres, Redis and a local SQS endpoint:
// each raw event records its producer, and one producer's key cannot read another producer's event.
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { apiRequest, lambdaContext, purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { switchableSql } from '../support/switchable.ts';

const KEYS = new Map([
  ['shop', 'shop-key-0123456789abcdef'],
  ['billing', 'billing-key-0123456789abcd'],
]);
const as = (producer: string) => ({ 'x-api-key': KEYS.get(producer) as string });
const ADMIN_TOKEN = 'producers-admin-token';

let db: TestDatabase;
let sql: SqlExecutor;
let redis: Redis;
let stream: EventStream;
const streamKey = uniqueName('events');

beforeAll(async () => {
  db = await createTestDatabase();
  sql = createPgExecutor({ connectionString: db.url });
  redis = new Redis(TEST_REDIS_URL);
  stream = createIoredisStream({ url: TEST_REDIS_URL, streamKey, group: 'workers' });
  await stream.ensureGroup();
});

afterAll(async () => {
  await redis?.del(streamKey, `${streamKey}:errors`);
  redis?.disconnect();
  await stream?.close();
  await sql?.close();
  await db?.drop();
});

const producerOf = async (id: string) =>
  (await sql.query<{ producer: string | null }>('SELECT producer FROM raw_events WHERE event_id = :id', { id: { uuid: id } }))
    .rows[0]?.producer;

describe('locally, with PRODUCER_KEYS', () => {
  const pipeline = () => createTestPipeline({ sql, stream, producerKeys: KEYS, adminToken: ADMIN_TOKEN });

  it("records the key's producer on the raw row; another producer's key gets 404 for it, its own gets 200", async () => {
    // Arrange
    const app = pipeline();
    const sent = await app.call('POST', '/events', { body: purchase(), headers: as('shop') });
    expect(sent.status).toBe(202);
    const id = (sent.body as { event_id: string }).event_id;

    // Act
    const own = await app.call('GET', `/events/${id}`, { headers: as('shop') });
    const other = await app.call('GET', `/events/${id}`, { headers: as('billing') });
    const missing = await app.call('GET', '/events/7f1e0c1a-0000-4000-8000-00000000beef', { headers: as('billing') });

    // Assert
    expect(await producerOf(id)).toBe('shop');
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ event_id: id, status: 'accepted' });
    expect(other.status).toBe(404);
    // Answered exactly like an id nobody sent: the other producer learns nothing about the event.
    expect(other.body).toEqual({ error: 'not_found', message: `no event ${id} was accepted` });
    expect(missing.body).toEqual({
      error: 'not_found',
      message: 'no event 7f1e0c1a-0000-4000-8000-00000000beef was accepted',
    });
  });

  it("keeps a processed or failed event's enrichment and error from other producers", async () => {
    const app = pipeline();
    const good = await app.call('POST', '/events', { body: purchase(), headers: as('billing') });
    const bad = await app.call('POST', '/events', { body: purchase({ properties: { amount: -1 } }), headers: as('billing') });
    await app.drainOnce();
    for (const sent of [good, bad]) {
      const id = (sent.body as { event_id: string }).event_id;
      expect((await app.call('GET', `/events/${id}`, { headers: as('billing') })).status).toBe(200);
      expect((await app.call('GET', `/events/${id}`, { headers: as('shop') })).status).toBe(404);
    }
  });

  it('records the producer of every event of a batch, atomic or not', async () => {
    const app = pipeline();
    const events = [purchase(), purchase()];
    expect((await app.call('POST', '/events/batch', { body: { events }, headers: as('shop') })).status).toBe(202);
    const atomic = [purchase()];
    expect(
      (await app.call('POST', '/events/batch?atomic=true', { body: { events: atomic }, headers: as('billing') })).status,
    ).toBe(202);
    expect(await Promise.all(events.map((e) => producerOf(e.event_id)))).toEqual(['shop', 'shop']);
    expect(await producerOf(atomic[0]?.event_id as string)).toBe('billing');
  });

  it('refuses a keyed route without a listed key (403, nothing stored); open and admin routes need none', async () => {
    // Arrange
    const app = pipeline();
    const event = purchase();

    // Act
    const noKey = await app.call('POST', '/events', { body: event });
    const wrongKey = await app.call('POST', '/events', { body: event, headers: { 'x-api-key': 'not-a-listed-key-000000' } });
    const health = await app.call('GET', '/health');

    // Assert
    expect(noKey.status).toBe(403);
    expect(noKey.body).toMatchObject({ error: 'forbidden' });
    expect(wrongKey.status).toBe(403);
    expect(health.status).toBe(403);
    expect(await producerOf(event.event_id)).toBeUndefined();
    expect(await app.counter('events_rejected_total', { reason: 'forbidden', producer: 'unknown' })).toBe(3);
    expect((await app.call('GET', '/')).status).toBe(200);
    expect((await app.call('GET', '/openapi.json')).status).toBe(200);
    expect((await app.call('GET', '/docs/swagger-ui.css')).status).toBe(200);
    const redrive = await app.call('POST', '/admin/redrive', {
      body: { all: true, dry_run: true },
      headers: { 'x-admin-token': ADMIN_TOKEN },
    });
    expect(redrive.status).toBe(200);
  });

  it('counts received and rejected requests per producer', async () => {
    const app = pipeline();
    await app.call('POST', '/events/batch', { body: { events: [purchase(), purchase(), purchase()] }, headers: as('shop') });
    await app.call('POST', '/events', { body: purchase(), headers: as('billing') });
    await app.call('POST', '/events', { body: { event_type: 'refund' }, headers: as('billing') });
    expect(await app.counter('events_received_total', { producer: 'shop' })).toBe(3);
    expect(await app.counter('events_received_total', { producer: 'billing', event_type: 'purchase' })).toBe(1);
    expect(await app.counter('events_rejected_total', { producer: 'billing', reason: 'validation_failed' })).toBe(1);
  });

  it('lets any key read an event recorded without a producer (before 002_producers, or with no identity)', async () => {
    const anonymous = createTestPipeline({ sql, stream });
    const sent = await anonymous.call('POST', '/events', { body: purchase() });
    const id = (sent.body as { event_id: string }).event_id;
    expect(await producerOf(id)).toBeNull();
    expect(await anonymous.counter('events_received_total', { producer: 'default' })).toBe(1);
    expect((await pipeline().call('GET', `/events/${id}`, { headers: as('shop') })).status).toBe(200);
  });
});

describe('deployed: API Gateway names the API key id', () => {
  /** A request as API Gateway hands it over after checking the key of `apiKeyId`. */
  const viaGateway = (apiKeyId: string, method: string, path: string, body?: unknown): APIGatewayProxyEvent => {
    const event = apiRequest(method, path, body === undefined ? {} : { body });
    return { ...event, requestContext: { ...event.requestContext, identity: { ...event.requestContext.identity, apiKeyId } } };
  };

  it("records the key id; another key's holder gets 404 for the event, the same key 200", async () => {
    const { app } = createTestPipeline({ sql, stream });
    const sent = await app(viaGateway('k1abcdef01', 'POST', '/events', purchase()), lambdaContext());
    expect(sent.statusCode).toBe(202);
    const id = (JSON.parse(sent.body) as { event_id: string }).event_id;
    expect(await producerOf(id)).toBe('k1abcdef01');
    expect((await app(viaGateway('k1abcdef01', 'GET', `/events/${id}`), lambdaContext())).statusCode).toBe(200);
    expect((await app(viaGateway('k2abcdef02', 'GET', `/events/${id}`), lambdaContext())).statusCode).toBe(404);
  });
});

describe('Postgres unavailable at ingest', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs({ port: 0, queues: [] });
  });
  afterAll(async () => {
    await sqs?.close();
  });

  it('keeps the producer through the SQS fallback queue into the raw row', async () => {
    // Arrange
    const client = createSqsClient({
      endpoint: sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const queueUrl = (await client.send(new CreateQueueCommand({ QueueName: uniqueName('fallback') }))).QueueUrl as string;
    const switchable = switchableSql(sql);
    const app = createTestPipeline({
      sql: switchable,
      stream,
      fallback: createSqsIngestFallbackQueue(client, queueUrl),
      producerKeys: KEYS,
      settings: { maintenanceIntervalMs: 0 },
    });
    switchable.down = true;
    const sent = await app.call('POST', '/events', { body: purchase(), headers: as('billing') });
    switchable.down = false;
    expect(sent.status).toBe(202);

    // Act
    await app.drainOnce();

    // Assert
    expect(await producerOf((sent.body as { event_id: string }).event_id)).toBe('billing');
  });
});
