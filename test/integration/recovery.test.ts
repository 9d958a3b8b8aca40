// Retries, dead letters, redrive, the outbox reconciler, the SQS fallback and trimming, on the real
// Postgres, Redis and a local SQS endpoint. Outages here are switched adapters; test/faults has real ones.
import { setTimeout as sleep } from 'node:timers/promises';

import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsDeadLetterQueue } from '../../lambdas/adapters/sqs/dead-letter-queue.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { DependencyUnavailableError } from '../../lambdas/errors.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { switchableQueue, switchableSql, switchableStream } from '../support/switchable.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

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

/** The real executor, except that writes to processed_events throw `error()` (a failure not of the database). */
function failingProcessedWrites(sql: SqlExecutor, error: () => Error): SqlExecutor {
  return {
    maxStatementBytes: sql.maxStatementBytes,
    query: async (text, params) => {
      if (/INSERT INTO processed_events/.test(text)) throw error();
      return sql.query(text, params);
    },
    transaction: (fn) => sql.transaction(fn),
    close: async () => {},
  };
}

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

/** Each XPENDING row's delivery count, by entry id. */
const deliveryCounts = async (streamKey: string) =>
  new Map(
    ((await redis.xpending(streamKey, 'workers', '-', '+', 100)) as Array<[string, string, number, number]>).map(
      ([id, , , count]) => [id, count],
    ),
  );

describe('a database outage while consuming', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    env = await setup();
  });

  it('pauses the drain without costing the entry an attempt, and processes it once the database answers', async () => {
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    env.sql.down = true;
    const first = await env.pipeline.drainOnce();
    expect(first).toMatchObject({ processed: 0, failed: 0, retried: 0, pauses: 1 });
    expect([...(await deliveryCounts(env.streamKey)).values()]).toEqual([0]);

    env.sql.down = false;
    expect((await env.pipeline.drainOnce()).processed).toBe(1); // due at once: the outage was not its fault
    const row = await realSql.query('SELECT attempts FROM processed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(row.rows[0]).toEqual({ attempts: 1 });
    expect(await env.pipeline.counter('events_retried_total')).toBe(0);
    expect(await env.pipeline.counter('drain_paused_total', { dependency: 'database' })).toBe(1);
  });

  it('an outage that outlasts every backoff dead-letters nothing', async () => {
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    const bad = await env.pipeline.call('POST', '/events', { body: purchase({ properties: { amount: -5 } }) });
    env.sql.down = true;
    for (let i = 0; i < 6; i++) {
      await env.pipeline.drainOnce();
      await sleep(150); // past 100 ms, 200 ms … backoffs had they been counted
    }
    expect(await countRows(realSql, 'failed_events', 'event_id = :id', { id: { uuid: sent.body.event_id } })).toBe(0);
    env.sql.down = false;
    const after = await env.pipeline.drainOnce();
    expect(after).toMatchObject({ processed: 1, failed: 1 });
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
    expect(await outcomeOf(bad.body.event_id)).toBe('failed'); // only the rule violation
    expect(await env.pipeline.counter('dead_letters_rule_violation_total')).toBe(1);
    expect(await env.pipeline.counter('dead_letters_infrastructure_total')).toBe(0);
    expect((await redis.xpending(env.streamKey, 'workers'))[0]).toBe(0);
  });

  it('a continuous drain rides the outage out and resumes by itself when a probe succeeds', async () => {
    const cont = await setup({ mode: 'continuous', blockMs: 50 });
    const sent = await cont.pipeline.call('POST', '/events', { body: purchase() });
    cont.sql.down = true;
    setTimeout(() => {
      cont.sql.down = false;
    }, 700);
    const deadline = Date.now() + 2500;
    let processed = 0;
    await cont.pipeline.drainer.drain({
      remainingMs: () => deadline - Date.now(),
      marginMs: 0,
      shouldStop: () => processed > 0,
    });
    processed = 0;
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
    const row = await realSql.query('SELECT attempts FROM processed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(row.rows[0]).toEqual({ attempts: 1 });
    expect(await cont.pipeline.counter('drain_paused_total', { dependency: 'database' })).toBeGreaterThanOrEqual(1);
  });
  it('a stop signal (Ctrl-C, SIGTERM) ends a pause at once instead of waiting for the dependency', async () => {
    const cont = await setup({ mode: 'continuous', blockMs: 50 });
    await cont.pipeline.call('POST', '/events', { body: purchase() });
    cont.sql.down = true;
    let stop = false;
    setTimeout(() => {
      stop = true;
    }, 300);
    const started = Date.now();
    const summary = await cont.pipeline.drainer.drain({ remainingMs: () => 60_000, marginMs: 0, shouldStop: () => stop });
    expect(summary.pauses).toBeGreaterThanOrEqual(1);
    // Well before the 60 s budget: the pause gives up within one back-off step (at most 5 s).
    expect(Date.now() - started).toBeLessThan(10_000);
    expect([...(await deliveryCounts(cont.streamKey)).values()]).toEqual([0]);
  });

  it('a continuous invocation that ends inside the outage hands the attempts back before it returns', async () => {
    const cont = await setup({ mode: 'continuous', blockMs: 50 });
    await cont.pipeline.call('POST', '/events', { body: purchase() });
    cont.sql.down = true;
    const deadline = Date.now() + 800;
    const summary = await cont.pipeline.drainer.drain({ remainingMs: () => deadline - Date.now(), marginMs: 0 });
    expect(summary.pauses).toBeGreaterThanOrEqual(1);
    // The next invocation may run in another container: the count must already be back in Redis.
    expect([...(await deliveryCounts(cont.streamKey)).values()]).toEqual([0]);
  });

  it('acknowledges the outcomes already committed before it pauses, so no one claims them again meanwhile', async () => {
    // The processed write succeeds; the dead-letter write of the same batch meets the outage.
    const good = await env.pipeline.call('POST', '/events', { body: purchase() });
    const bad = await env.pipeline.call('POST', '/events', { body: purchase({ properties: { amount: -1 } }) });
    let down = true;
    const failedWritesDown: SqlExecutor = {
      maxStatementBytes: realSql.maxStatementBytes,
      query: async (text, params) => {
        // The dead-letter write and the drain's probe meet the outage; the processed write went through.
        if (down && /INSERT INTO failed_events|^SELECT 1$/.test(text.trim())) {
          throw new DependencyUnavailableError('database', 'database unavailable: cut by the test');
        }
        return realSql.query(text, params);
      },
      transaction: (fn) => realSql.transaction(fn),
      close: async () => {},
    };
    const pipeline = createTestPipeline({
      sql: failedWritesDown,
      stream: env.stream,
      settings: { mode: 'continuous', blockMs: 50, retryBaseMs: 100, maintenanceIntervalMs: 60_000 },
    });
    const deadline = Date.now() + 1500;
    const draining = pipeline.drainer.drain({ remainingMs: () => deadline - Date.now(), marginMs: 0 });
    await sleep(600); // the batch is written and the drain is paused, probing
    const pendingWhilePaused = [...(await deliveryCounts(env.streamKey)).keys()];
    down = false;
    await draining;
    expect(await outcomeOf(good.body.event_id)).toBe('processed');
    expect(pendingWhilePaused).toHaveLength(1); // only the dead letter waits, not the processed event
    expect(await outcomeOf(bad.body.event_id)).toBe('failed');
  });
});

describe("a failure that may be the event's own", () => {
  it('is retried after base × 2^(n−1) within one scheduled tick, then dead-lettered with the last error', async () => {
    const env = await setup();
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() });
    const failing = failingProcessedWrites(realSql, () => new Error('enrichment service said no'));
    const pipeline = createTestPipeline({ sql: failing, stream: env.stream, settings: { retryBaseMs: 100, maxAttempts: 3 } });
    const started = Date.now();
    const summary = await pipeline.drainOnce(); // serves its own retries as they fall due: 100 ms, 200 ms
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(summary).toMatchObject({ processed: 0, failed: 1, retried: 2, batches: 3 });
    const failed = await realSql.query('SELECT error_type, error_message, attempts FROM failed_events WHERE event_id = :id', {
      id: { uuid: sent.body.event_id },
    });
    expect(failed.rows[0]).toEqual({ error_type: 'Error', error_message: 'enrichment service said no', attempts: 3 });
    expect(await pipeline.counter('dead_letters_infrastructure_total', { error_type: 'Error' })).toBe(1);
    expect(await pipeline.counter('dead_letters_rule_violation_total')).toBe(0);
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
    const failing = createTestPipeline({
      sql: failingProcessedWrites(realSql, () => new Error('downstream refused')),
      stream: env.stream,
      settings: { retryBaseMs: 100, maxAttempts: 1 },
    });
    await failing.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');

    const dry = await env.pipeline.call('POST', '/admin/redrive', {
      body: { event_ids: [sent.body.event_id], dry_run: true },
      headers: { 'x-admin-token': 'admin-token-for-tests-0001' },
    });
    expect(dry.body).toMatchObject({ dry_run: true, event_ids: [sent.body.event_id] });
    expect(await outcomeOf(sent.body.event_id)).toBe('failed');

    const redrive = await env.pipeline.call('POST', '/admin/redrive', {
      body: { error_type: 'Error' },
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

describe('an idle fleet', () => {
  it('a new consumer (a fresh Lambda container) makes no SQL call when another reconciled within the interval', async () => {
    const env = await setup({ reconcileIdleIntervalMs: 3_600_000 });
    await env.pipeline.drainOnce(); // the first consumer of the fleet takes the idle turn
    const queries: string[] = [];
    const counting: SqlExecutor = {
      maxStatementBytes: realSql.maxStatementBytes,
      query: async (text, params) => {
        queries.push(text.trim().slice(0, 60));
        return realSql.query(text, params);
      },
      transaction: (fn) => realSql.transaction(fn),
      close: async () => {},
    };
    for (let container = 0; container < 3; container++) {
      const fresh = createTestPipeline({ sql: counting, stream: env.stream, settings: { maintenanceIntervalMs: 0 } });
      await fresh.drainOnce();
    }
    expect(queries).toEqual([]);
  });

  it('the idle reconcile still runs once per interval for the whole fleet', async () => {
    const env = await setup({ reconcileIdleIntervalMs: 1000 }, { fallback: false });
    env.stream.down = true;
    const sent = await env.pipeline.call('POST', '/events', { body: purchase() }); // stranded: no stream entry
    env.stream.down = false;
    await sleep(1100); // past the grace (200 ms) and the idle interval
    const fresh = createTestPipeline({
      sql: realSql,
      stream: env.stream,
      settings: { reconcileGraceMs: 200, maintenanceIntervalMs: 0 },
    });
    expect((await fresh.drainOnce()).republished).toBe(1);
    await fresh.drainOnce();
    expect(await outcomeOf(sent.body.event_id)).toBe('processed');
  });
});

describe('slow or locked database', () => {
  it('a statement timeout pauses the drain like an outage: no attempt spent, processed afterwards', async () => {
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
      expect(first).toMatchObject({ failed: 0, retried: 0, pauses: 1 });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
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
