// Backpressure through the real app on real Postgres and Redis: past the lag limit ingest answers 429
// with Retry-After (single and batch), stores nothing, counts it; once the consumer catches up, 202 again.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMBINATIONS, type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { countRows, createTestDatabase, type TestDatabase, uniqueName } from '../support/services.ts';

describe.each(COMBINATIONS)('backpressure over %s', (combination) => {
  let db: TestDatabase;
  let adapters: OpenAdapters;
  let pipeline: ReturnType<typeof createTestPipeline>;

  beforeAll(async () => {
    db = await createTestDatabase();
    adapters = await openAdapters(combination, db.url, uniqueName('events'));
    await adapters.stream.ensureGroup();
    pipeline = createTestPipeline({
      sql: adapters.sql,
      stream: adapters.stream,
      backpressure: { maxLag: 20, maxAgeMs: 0, statsTtlMs: 100 },
    });
  });

  afterAll(async () => {
    await adapters.close();
    await db.drop();
  });

  it('answers 429 with Retry-After past the lag limit, stores nothing, and 202 again once drained', async () => {
    const events = Array.from({ length: 30 }, () => purchase());
    expect((await pipeline.call('POST', '/events/batch', { body: { events } })).status).toBe(202);
    await sleep(120); // past the stats TTL

    const before = await countRows(adapters.sql, 'raw_events');
    const single = await pipeline.call('POST', '/events', { body: purchase() });
    expect(single.status).toBe(429);
    expect(Number(single.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(single.body).toMatchObject({ error: 'backpressure' });
    expect(single.body.message).toContain('30 events are waiting');
    const batch = await pipeline.call('POST', '/events/batch', { body: { events: [purchase()] } });
    expect(batch.status).toBe(429);
    expect(await countRows(adapters.sql, 'raw_events')).toBe(before);
    expect(await pipeline.counter('events_rejected_total', { reason: 'backpressure' })).toBe(2);

    await pipeline.drainOnce();
    await sleep(120);
    expect((await pipeline.call('POST', '/events', { body: purchase() })).status).toBe(202);
  });
});
