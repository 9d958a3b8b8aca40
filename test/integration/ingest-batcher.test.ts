// Group commit of concurrent single POSTs (lambdas/core/ingest-batcher.ts), on the real Postgres and Redis: each
// request gets its own answer after its event is stored and published, while the writes are shared.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIngestBatcher } from '../../lambdas/core/ingest-batcher.ts';
import { DependencyUnavailableError } from '../../lambdas/errors.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../lambdas/ingest/uuidv7.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { systemClock } from '../../lambdas/ports.ts';
import { type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { apiRequest, lambdaContext, purchase } from '../support/events.ts';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

let db: TestDatabase;
let adapters: OpenAdapters;

beforeAll(async () => {
  db = await createTestDatabase();
  adapters = await openAdapters('pg+ioredis', db.url, uniqueName('unused'));
});

afterAll(async () => {
  await adapters.close();
  await db.drop();
});

/** The real adapters, counting the raw-event INSERTs and the XADD calls; `refuse` makes one event's INSERT fail. */
function counted(sql: SqlExecutor, stream: EventStream, refuse?: { marker: string; error: () => Error }) {
  const counts = { inserts: 0, adds: 0 };
  const countedSql: SqlExecutor = {
    maxStatementBytes: sql.maxStatementBytes,
    async query(text, params) {
      if (/INSERT INTO raw_events/i.test(text) && !/outcome/i.test(text.split('ON CONFLICT')[1] ?? '')) {
        counts.inserts++;
        if (refuse && JSON.stringify(params ?? {}).includes(refuse.marker)) throw refuse.error();
      }
      return sql.query(text, params);
    },
    transaction: (fn) => sql.transaction(fn),
    close: () => sql.close(),
  };
  const countedStream: EventStream = {
    ...stream,
    add: async (data) => {
      counts.adds++;
      return stream.add(data);
    },
  };
  return { sql: countedSql, stream: countedStream, counts };
}

describe('group commit of concurrent single POSTs', () => {
  let streamKey: string;
  let stream: EventStream;

  beforeEach(async () => {
    streamKey = uniqueName('batcher');
    const opened = await openAdapters('pg+ioredis', db.url, streamKey);
    stream = opened.stream;
    await stream.ensureGroup();
    return async () => {
      const redis = new Redis(TEST_REDIS_URL);
      await redis.del(streamKey, `${streamKey}:errors`);
      redis.disconnect();
      await opened.close();
    };
  });

  function appOver(sql: SqlExecutor, eventStream: EventStream) {
    return createIngestApp({
      sql,
      stream: eventStream,
      clock: systemClock,
      newId: uuidv7,
      metrics: createPrometheusMetrics(),
      logger: createQuietLogger().logger,
      groupCommit: createIngestBatcher(),
    });
  }

  const post = (app: ReturnType<typeof appOver>, body: unknown) =>
    app(apiRequest('POST', '/events', { body }), lambdaContext()).then((response) => ({
      status: response.statusCode,
      body: JSON.parse(response.body) as Record<string, unknown>,
    }));

  async function streamedIds(): Promise<string[]> {
    const entries = await stream.readNew('check', { count: 10_000 });
    return entries.map((entry) => (JSON.parse(entry.data ?? '{}') as { event_id: string }).event_id);
  }

  it('answers 200 concurrent POSTs each with its own 202, stores and publishes each exactly once, in fewer writes', async () => {
    const { sql, stream: countedStream, counts } = counted(adapters.sql, stream);
    const app = appOver(sql, countedStream);
    const events = Array.from({ length: 200 }, (_, n) => purchase({ properties: { amount: n + 1 } }));

    const answers = await Promise.all(events.map((event) => post(app, event)));

    answers.forEach((answer, n) => {
      expect(answer.status).toBe(202);
      expect(answer.body).toMatchObject({ event_id: events[n]?.event_id, status: 'accepted', duplicate: false });
    });
    const ids = events.map((event) => event.event_id).sort();
    const rows = await adapters.sql.query<{ event_id: string; amount: number }>(
      `SELECT event_id::text, (payload->'properties'->>'amount')::int AS amount FROM raw_events WHERE event_id::text = ANY(:ids::text[])`,
      { ids: `{${ids.join(',')}}` },
    );
    expect(rows.rows.map((row) => row.event_id).sort()).toEqual(ids);
    for (const row of rows.rows) {
      expect(row.amount).toBe((events.findIndex((event) => event.event_id === row.event_id) as number) + 1);
    }
    expect((await streamedIds()).sort()).toEqual(ids);
    expect(counts.inserts).toBeLessThan(200);
    expect(counts.adds).toBeLessThan(200);
  });

  it('answers 409 only to the request whose event_id names another stored event, in the middle of a group', async () => {
    const { sql, stream: countedStream, counts } = counted(adapters.sql, stream);
    const app = appOver(sql, countedStream);
    const stored = purchase({ properties: { amount: 1 } });
    expect((await post(app, stored)).status).toBe(202);
    const before = counts.inserts;
    const fresh = Array.from({ length: 60 }, () => purchase());
    const conflicting = { ...stored, properties: { amount: 999 } };
    const requests = [...fresh.slice(0, 30), conflicting, stored, ...fresh.slice(30)];

    const answers = await Promise.all(requests.map((event) => post(app, event)));

    expect(answers[30]).toMatchObject({ status: 409, body: { error: 'event_id_conflict' } });
    expect(answers[31]).toMatchObject({ status: 202, body: { event_id: stored.event_id, duplicate: true } });
    const others = answers.filter((_, index) => index !== 30 && index !== 31);
    expect(others.every((answer) => answer.status === 202 && answer.body.duplicate === false)).toBe(true);
    expect(counts.inserts - before).toBeLessThan(requests.length);
    const kept = await adapters.sql.query<{ amount: number }>(
      `SELECT (payload->'properties'->>'amount')::int AS amount FROM raw_events WHERE event_id = :id::uuid`,
      { id: stored.event_id },
    );
    expect(kept.rows).toEqual([{ amount: 1 }]);
  });

  it('answers two concurrent copies of one event once as new and once as a duplicate, with one row', async () => {
    const app = appOver(adapters.sql, stream);
    const event = purchase();
    const others = Array.from({ length: 10 }, () => purchase());

    const answers = await Promise.all([...others, event, event].map((body) => post(app, body)));

    const copies = answers.slice(10);
    expect(copies.map((answer) => answer.status)).toEqual([202, 202]);
    expect(copies.map((answer) => answer.body.duplicate).sort()).toEqual([false, true]);
    const rows = await adapters.sql.query(`SELECT 1 FROM raw_events WHERE event_id = :id::uuid`, { id: event.event_id });
    expect(rows.rows).toHaveLength(1);
  });

  it('fails only the request whose event the database refuses; the rest of its group is stored', async () => {
    const refuse = { marker: 'refuse-me', error: () => new Error('value refused by the database') };
    const { sql, stream: countedStream } = counted(adapters.sql, stream, refuse);
    const app = appOver(sql, countedStream);
    const events = Array.from({ length: 40 }, () => purchase());
    const poisoned = purchase({ properties: { note: 'refuse-me' } });
    const requests = [...events.slice(0, 20), poisoned, ...events.slice(20)];

    const answers = await Promise.all(requests.map((event) => post(app, event)));

    expect(answers[20]?.status).toBe(500);
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(40);
    const count = await adapters.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM raw_events WHERE event_id::text = ANY(:ids::text[])`,
      { ids: `{${requests.map((event) => event.event_id).join(',')}}` },
    );
    expect(count.rows).toEqual([{ n: 40 }]);
  });

  it('answers 503 to every request of a group when the database is unreachable (no fallback queue)', async () => {
    const refuse = {
      marker: '"event_type"',
      error: () => new DependencyUnavailableError('database', 'database unavailable: test'),
    };
    const { sql, stream: countedStream } = counted(adapters.sql, stream, refuse);
    const app = appOver(sql, countedStream);

    const answers = await Promise.all(Array.from({ length: 20 }, () => post(app, purchase())));

    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 20 }, () => 503));
  });
});
