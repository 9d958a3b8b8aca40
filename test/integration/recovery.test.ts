// Retries, dead letters, redrive, the outbox reconciler, the SQS fallback and trimming, on the real
// Postgres, Redis and a local SQS endpoint. Outages here are switched adapters; test/faults has real ones.

import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsDeadLetterQueue } from '../../lambdas/adapters/sqs/dead-letter-queue.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { switchableQueue, switchableSql, switchableStream } from '../support/switchable.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: TestDatabase;
let realSql: SqlExecutor;
let redis: Redis;
let sqs: LocalSqs;
const keys: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  realSql = createPgExecutor({ connectionString: db.url });
  redis = new Redis(TEST_REDIS_URL);
  sqs = await startLocalSqs({ port: 0, queues: [uniqueName('dlq'), uniqueName('fallback')] });
});

afterAll(async () => {
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await realSql.close();
  await sqs.close();
  await db.drop();
});

/** A fresh stream, its own queues, switchable adapters and a pipeline with fast retries. */
async function setup(settings: Parameters<typeof createTestPipeline>[0]['settings'] = {}, options: { fallback?: boolean } = {}) {
  const streamKey = uniqueName('events');
  keys.push(streamKey, `${streamKey}:errors`);
  const stream = switchableStream(createIoredisStream({ url: TEST_REDIS_URL, streamKey, group: 'workers' }));
  await stream.ensureGroup();
  const sql = switchableSql(realSql);
  const client = createSqsClient({ endpoint: sqs.endpoint, region: 'us-east-1', credentials });
  const newQueue = async (prefix: string) =>
    (await client.send(new CreateQueueCommand({ QueueName: uniqueName(prefix) }))).QueueUrl as string;
  const [dlqUrl, fallbackUrl] = await Promise.all([newQueue('dlq'), newQueue('fallback')]);
  const fallback = switchableQueue(createSqsIngestFallbackQueue(client, fallbackUrl));
  const pipeline = createTestPipeline({
    sql,
    stream,
    dlq: createSqsDeadLetterQueue(client, dlqUrl),
    ...(options.fallback === false ? {} : { fallback }),
    adminToken: 'admin-token-for-tests-0001',
    settings: { retryBaseMs: 100, maxAttempts: 3, reconcileGraceMs: 200, maintenanceIntervalMs: 0, ...settings },
  });
  return { stream, sql, fallback, pipeline, streamKey, client, dlqUrl };
}

const outcomeOf = async (id: string) =>
  (await realSql.query<{ outcome: string | null }>('SELECT outcome FROM raw_events WHERE event_id = :id', { id: { uuid: id } }))
    .rows[0]?.outcome;

describe('a transient database failure while consuming', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    env = await setup();
  });

  it('leaves the entry pending (no sleeping) and the next due attempt processes it', async () => {
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    env.sql.down = true;
    const first = await env.pipeline.drainOnce();
    expect(first).toMatchObject({ processed: 0, failed: 0, retried: 1 });
    expect((await redis.xpending(env.streamKey, 'workers'))[0]).toBe(1);

    env.sql.down = false;
    expect((await env.pipeline.drainOnce()).processed).toBe(0); // backoff (100 ms) not elapsed yet
    await sleep(120);
    expect((await env.pipeline.drainOnce()).processed).toBe(1);
    const row = await realSql.query('SELECT attempts FROM processed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(row.rows[0]).toEqual({ attempts: 2 });
    expect(await env.pipeline.counter('events_retried_total', { error_type: 'DependencyUnavailableError' })).toBe(1);
  });

  it('waits base × 2^(n−1) between attempts and dead-letters after the last, with the last error', async () => {
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    env.sql.down = true;
    await env.pipeline.drainOnce(); // attempt 1
    await sleep(110);
    await env.pipeline.drainOnce(); // attempt 2 (after 100 ms)
    await sleep(110);
    expect((await env.pipeline.drainOnce()).retried).toBe(0); // 200 ms not yet elapsed
    await sleep(110);
    await env.pipeline.drainOnce(); // attempt 3 fails; failed_events cannot be written either
    await sleep(420);
    env.sql.down = false;
    const last = await env.pipeline.drainOnce(); // delivery 4 > max: dead letter with the noted error
    expect(last.failed).toBe(1);
    const failed = await realSql.query('SELECT error_type, error_message, attempts FROM failed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(failed.rows[0]).toEqual({
      error_type: 'DependencyUnavailableError',
      error_message: 'database unavailable: switched off by the test',
      attempts: 3,
    });
    expect((await redis.xpending(env.streamKey, 'workers'))[0]).toBe(0);
    expect(await redis.hlen(`${env.streamKey}:errors`)).toBe(0);
  });
});

describe('dead letters', () => {
  it('are still recorded in failed_events, and the miss counted, when the SQS dead-letter queue is down', async () => {
    const env = await setup();
    const downDlq = {
      send: async () => {
        throw new Error('sqs unreachable');
      },
    };
    const pipeline = createTestPipeline({ sql: env.sql, stream: env.stream, dlq: downDlq });
    const sent = await pipeline.call('POST', '/events', { body: purchase({ properties: { amount: 0 } }) });
    expect((await pipeline.drainOnce()).failed).toBe(1);
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');
    expect(await pipeline.counter('dead_letter_publish_failed_total')).toBe(1);
    expect((await redis.xpending(env.streamKey, 'workers'))[0]).toBe(0);
  });

  it('are sent to the SQS dead-letter queue with their reason as attributes', async () => {
    const env = await setup();
    const { ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
    const sent = await env.pipeline.call('POST', '/events', { body: purchase({ properties: { amount: -1 } }) });
    await env.pipeline.drainOnce();
    const received = await env.client.send(
      new ReceiveMessageCommand({
        QueueUrl: env.dlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    const letter = received.Messages?.find((m) => m.MessageAttributes?.event_id?.StringValue === sent.body.event_id);
    expect(letter?.MessageAttributes?.error_type?.StringValue).toBe('RuleViolation');
    expect(JSON.parse(letter?.Body ?? '{}')).toMatchObject({
      event_id: sent.body.event_id,
      error_message: 'properties.amount must be greater than 0',
    });
  });

  it('replayed after the cause is fixed end processed exactly once, and the failed row is gone', async () => {
    const env = await setup({ maxAttempts: 1 });
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    env.sql.down = true;
    await env.pipeline.drainOnce();
    env.sql.down = false;
    await sleep(120);
    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');

    const dry = await env.pipeline.call('POST', '/admin/redrive', {
      body: { event_ids: [sent.body.event_id], dry_run: true },
      headers: { 'x-admin-token': 'admin-token-for-tests-0001' },
    });
    expect(dry.body).toMatchObject({ dry_run: true, event_ids: [sent.body.event_id] });
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');

    const redrive = await env.pipeline.call('POST', '/admin/redrive', {
      body: { error_type: 'DependencyUnavailableError' },
      headers: { 'x-admin-token': 'admin-token-for-tests-0001' },
    });
    expect(redrive.status).toBe(200);
    expect(redrive.body.event_ids).toContain(sent.body.event_id);
    expect((await env.pipeline.call('GET', `/events/${sent.body.event_id}`)).body).toMatchObject({
      status: 'accepted',
      replay: { count: 1 },
    });

    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
    expect(await countRows(realSql, 'failed_events', 'event_id = :id', { id: { uuid: sent.body.event_id } })).toBe(0);
    expect(await countRows(realSql, 'processed_events', 'event_id = :id', { id: { uuid: sent.body.event_id } })).toBe(1);
  });

  it('a replay that fails again updates its one failed row', async () => {
    const env = await setup();
    const sent = await env.pipeline.call('POST', '/events', { body: purchase({ properties: { amount: 0 } }) });
    await env.pipeline.drainOnce();
    await env.pipeline.call('POST', '/admin/redrive', {
      body: { all: true },
      headers: { 'x-admin-token': 'admin-token-for-tests-0001' },
    });
    await env.pipeline.drainOnce();
    const rows = await realSql.query('SELECT replay_count, replayed_at FROM failed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(rows.rows).toEqual([{ replay_count: 1, replayed_at: null }]);
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');
  });
});

describe('Redis unavailable at ingest', () => {
  it('still answers 202 once the raw event is stored; the fallback queue carries a publish hint', async () => {
    const env = await setup();
    env.stream.down = true;
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    expect(sent.status).toBe(202);
    env.stream.down = false;
    expect(await redis.xlen(env.streamKey)).toBe(0);

    const summary = await env.pipeline.drainOnce(); // no grace to wait: the hint says "publish me"
    expect(summary.fromFallback).toBe(1);
    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
    expect(await countRows(realSql, 'raw_events', 'event_id = :id', { id: { uuid: sent.body.event_id } })).toBe(1);
  });

  it('without a fallback queue, the reconciler publishes it after the grace period', async () => {
    const env = await setup({}, { fallback: false });
    env.stream.down = true;
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    expect(sent.status).toBe(202);
    env.stream.down = false;
    expect(await redis.xlen(env.streamKey)).toBe(0);

    await sleep(250); // past the reconcile grace
    const summary = await env.pipeline.drainOnce();
    expect(summary.republished).toBe(1);
    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
  });

  it('a client retry of the same event publishes it at once', async () => {
    const env = await setup();
    const event = purchase();
    env.stream.down = true;
    await env.pipeline.call('POST', '/events', { body: event });
    env.stream.down = false;
    const retry = await env.pipeline.call('POST', '/events', { body: event });
    expect(retry.body).toMatchObject({ duplicate: true });
    expect(await redis.xlen(env.streamKey)).toBe(1);
  });

  it('the reconciler does not republish events that are still waiting in the stream', async () => {
    const env = await setup();
    await env.pipeline.call('POST', '/events', { body: purchase() });
    await sleep(250);
    const { runMaintenance } = await import('../../lambdas/core/maintenance.ts');
    const { createQuietLogger } = await import('../../lambdas/observability/logger.ts');
    const result = await runMaintenance(
      {
        sql: env.sql,
        stream: env.stream,
        clock: { now: () => new Date() },
        metrics: env.pipeline.metrics,
        logger: createQuietLogger().logger,
      },
      { consumer: 'c', batchSize: 10, reconcileGraceMs: 200, reconcileIdleIntervalMs: 3_600_000 },
    );
    expect(result.republished).toBe(0);
    expect(await redis.xlen(env.streamKey)).toBe(1);
  });
});

describe('Postgres unavailable at ingest', () => {
  it('accepts into the SQS fallback queue; the consumer moves it into raw_events and processes it', async () => {
    const env = await setup();
    env.sql.down = true;
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    expect(sent.status).toBe(202);
    expect(await env.pipeline.counter('events_ingest_fallback_total')).toBe(1);
    env.sql.down = false;
    expect(await outcomeOf(sent.body.event_id)).toBeUndefined();

    const summary = await env.pipeline.drainOnce();
    expect(summary.fromFallback).toBe(1);
    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
  });

  it('a fallback message the database refuses does not hold back the others received with it', async () => {
    const env = await setup();
    const now = new Date().toISOString();
    const event = (properties: Record<string, unknown>) => ({
      event_id: crypto.randomUUID(),
      event_type: 'custom',
      user_id: null,
      timestamp: now,
      properties,
      received_at: now,
    });
    const good = event({ ok: true });
    const poison = event({ k: 'x\u0000' }); // only a bug could queue this: ingest refuses NUL
    await env.fallback.send([JSON.stringify(poison), JSON.stringify(good)]);
    await env.pipeline.drainOnce();
    await env.pipeline.drainOnce();
    expect(await outcomeOf(good.event_id)).toBe('processed');
    expect(await countRows(realSql, 'raw_events', 'event_id = :id', { id: { uuid: poison.event_id } })).toBe(0);
    expect(env.pipeline.logs.some((entry) => entry.message.includes('database refused a fallback event'))).toBe(true);
  });

  it('answers 503 with Retry-After and stores nothing when the fallback queue is down too', async () => {
    const env = await setup();
    env.sql.down = true;
    env.fallback.down = true;
    const event = purchase();
    const sent = await env.pipeline.call('POST', '/events', { body: event });
    expect(sent.status).toBe(503);
    expect(sent.headers['retry-after']).toBe('5');
    expect(sent.body).toMatchObject({ error: 'service_unavailable' });
    env.sql.down = false;
    env.fallback.down = false;
    await env.pipeline.drainOnce();
    expect(await countRows(realSql, 'raw_events', 'event_id = :id', { id: { uuid: event.event_id } })).toBe(0);
  });
});

describe('stream trimming', () => {
  it('removes acknowledged entries and never an unacknowledged one', async () => {
    const env = await setup();
    const events = Array.from({ length: 300 }, () => purchase());
    for (let i = 0; i < 3; i++)
      await env.pipeline.call('POST', '/events/batch', { body: { events: events.slice(i * 100, i * 100 + 100) } });
    await env.pipeline.drainOnce();
    await env.pipeline.call('POST', '/events', { body: purchase() });
    const unread = await env.stream.readNew(uniqueName('slow'), { count: 1 }); // pending, never acked
    await env.pipeline.call('POST', '/events', { body: purchase() });
    await env.pipeline.drainOnce(); // maintenance trims
    const remaining = (await redis.xrange(env.streamKey, '-', '+')).map(([id]) => id);
    expect(remaining.length).toBeLessThan(302);
    expect(remaining).toContain(unread[0]?.id);
  });
});

describe('at rest', () => {
  it('the consumer makes no SQL call once the stream has been idle for two grace periods (Aurora can pause)', async () => {
    const env = await setup({ reconcileIdleIntervalMs: 3_600_000 });
    await env.pipeline.call('POST', '/events', { body: purchase() });
    await env.pipeline.drainOnce();
    await sleep(450); // > 2 × reconcileGraceMs (200 ms)
    await env.pipeline.drainOnce(); // notices nothing moved since
    const queries: string[] = [];
    const original = realSql.query;
    realSql.query = (async (text: string, params?: Parameters<SqlExecutor['query']>[1]) => {
      queries.push(text);
      return original.call(realSql, text, params);
    }) as SqlExecutor['query'];
    try {
      await env.pipeline.drainOnce();
      await env.pipeline.drainOnce();
    } finally {
      realSql.query = original;
    }
    expect(queries.map((q) => q.trim().slice(0, 60))).toEqual([]);
  });
});

describe('slow or locked database', () => {
  it('a statement timeout is transient: the entry is retried, not dead-lettered', async () => {
    const env = await setup();
    const slowSql = createPgExecutor({ connectionString: db.url, statementTimeoutMs: 300 });
    // The backoff (1 s) outlasts the statement timeout (0.3 s), so one drain makes exactly one attempt.
    const pipeline = createTestPipeline({
      sql: slowSql,
      stream: env.stream,
      settings: { retryBaseMs: 1000, maintenanceIntervalMs: 60_000 },
    });
    const sent = await pipeline.call('POST', '/events', { body: purchase() });
    const pg = (await import('pg')).default;
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE processed_events IN SHARE MODE'); // as a CREATE INDEX would
      const first = await pipeline.drainOnce();
      expect(first).toMatchObject({ failed: 0, retried: 1 });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    await sleep(1050);
    expect((await pipeline.drainOnce()).processed).toBe(1);
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
    await slowSql.close();
  });
});

describe('the continuous drain loop', () => {
  it('pauses between empty reads even with BLOCK_MS=0 (no busy loop)', async () => {
    const env = await setup({ mode: 'continuous', blockMs: 0, maintenanceIntervalMs: 60_000 });
    let reads = 0;
    const readNew = env.stream.readNew;
    env.stream.readNew = async (...args) => {
      reads++;
      return readNew(...args);
    };
    const deadline = Date.now() + 500;
    await env.pipeline.drainer.drain({ remainingMs: () => deadline - Date.now(), marginMs: 0 });
    expect(reads).toBeLessThan(30);
  });

  it('a poison entry does not pin the reconciler: an event stranded after it is still republished', async () => {
    // Without a fallback queue and with no outage seen by the consumer, the resting reconcile finds it.
    const env = await setup({ reconcileIdleIntervalMs: 300 }, { fallback: false });
    await redis.xadd(env.streamKey, '*', 'data', 'garbage\u0000bytes');
    await env.pipeline.drainOnce();
    env.stream.down = true;
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    env.stream.down = false;
    await sleep(450);
    await env.pipeline.drainOnce();
    await env.pipeline.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
  });
});
