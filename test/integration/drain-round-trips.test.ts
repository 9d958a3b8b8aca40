// The drain's Redis round trips on the real Postgres and Redis: a batch's XACK travels with the next
// XREADGROUP, and XPENDING is asked once per retry base rather than before every batch, while entries
// a crashed consumer left behind are still claimed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { countRows, createTestDatabase, type TestDatabase, uniqueName } from '../support/services.ts';

/** The stream with a log of the calls the drain makes (names, and the ids each read acknowledged). */
function countingStream(stream: EventStream) {
  const calls: string[] = [];
  const ackedWithRead: string[] = [];
  const counted: EventStream = {
    ...stream,
    async readNew(consumer, options) {
      calls.push(options.ack ? 'readNew+ack' : 'readNew');
      ackedWithRead.push(...(options.ack ?? []));
      return stream.readNew(consumer, options);
    },
    async pending(options) {
      calls.push('pending');
      return stream.pending(options);
    },
    async ack(ids) {
      calls.push('ack');
      return stream.ack(ids);
    },
  };
  const count = (name: string) => calls.filter((call) => call === name).length;
  return { stream: counted, calls, ackedWithRead, count };
}

describe('drain round trips', () => {
  let db: TestDatabase;
  let sql: SqlExecutor;
  let adapters: OpenAdapters;

  beforeAll(async () => {
    db = await createTestDatabase();
    adapters = await openAdapters('pg+ioredis', db.url, uniqueName('events'));
    sql = adapters.sql;
    await adapters.stream.ensureGroup();
  });

  afterAll(async () => {
    await adapters.stream.close();
    await adapters.close();
    await db.drop();
  });

  it('acknowledges each batch with the next read and asks XPENDING once per retry base, not per batch', async () => {
    const counting = countingStream(adapters.stream);
    const pipeline = createTestPipeline({ sql, stream: counting.stream, settings: { batchSize: 10, retryBaseMs: 60_000 } });
    for (let i = 0; i < 5; i++) {
      const sent = await pipeline.call('POST', '/events/batch', {
        body: { events: Array.from({ length: 10 }, () => purchase()) },
      });
      expect(sent.status).toBe(202);
    }

    const summary = await pipeline.drainOnce();

    expect(summary).toMatchObject({ processed: 50, batches: 5 });
    // Every batch but the first is acknowledged by the read after it; the last by the empty read that ends the tick.
    expect(counting.count('readNew+ack')).toBe(5);
    expect(counting.ackedWithRead).toHaveLength(50);
    expect(counting.count('ack')).toBe(0);
    // Once when the tick starts, once before it ends on an empty read, once for this consumer's own retries.
    expect(counting.count('pending')).toBe(3);
    expect(Number((await adapters.stream.stats()).pending)).toBe(0);
  });

  it('while it is kept busy with new entries, still claims what a crashed consumer left behind', async () => {
    const counting = countingStream(adapters.stream);
    const pipeline = createTestPipeline({
      sql,
      stream: counting.stream,
      settings: { mode: 'continuous', batchSize: 5, blockMs: 50, retryBaseMs: 200 },
    });
    const leftEvents = Array.from({ length: 3 }, () => purchase());
    expect((await pipeline.call('POST', '/events/batch', { body: { events: leftEvents } })).status).toBe(202);
    const leftIds = leftEvents.map((event) => event.event_id);
    expect(await adapters.stream.readNew(uniqueName('crashed'), { count: 10 })).toHaveLength(3);
    const processedLeft = () => countRows(sql, 'processed_events', `event_id IN (${leftIds.map((id) => `'${id}'`).join(', ')})`);
    let stop = false;
    let fed = 0;
    const feeding = (async () => {
      while (!stop) {
        await pipeline.call('POST', '/events/batch', { body: { events: Array.from({ length: 5 }, () => purchase()) } });
        fed++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const draining = pipeline.drainer.drain({ remainingMs: () => 60_000, marginMs: 0, shouldStop: () => stop });

    const deadline = Date.now() + 20_000;
    while ((await processedLeft()) < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const fedWhenDone = fed;
    stop = true;
    await feeding;
    await draining;

    expect(await processedLeft()).toBe(3);
    expect(fedWhenDone).toBeGreaterThan(0);
    // Asked at most about once per retry base while busy, not once per batch.
    expect(counting.count('pending')).toBeLessThan(counting.count('readNew') + counting.count('readNew+ack'));
  });
});
