// The pipeline end to end on the real Postgres and Redis: what a producer sends, what ends in the
// tables, what the API answers. Each file has its own database and stream key.
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redriveFailed } from '../../lambdas/core/redrive.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { COMBINATIONS, type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { apiRequest, lambdaContext, purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

describe.each(COMBINATIONS)('pipeline over %s', (combination) => {
  let db: TestDatabase;
  let sql: SqlExecutor;
  let stream: EventStream;
  let streamKey: string;
  let redis: Redis;
  let pipeline: ReturnType<typeof createTestPipeline>;

  let adapters: OpenAdapters;

  beforeAll(async () => {
    db = await createTestDatabase();
    streamKey = uniqueName('events');
    adapters = await openAdapters(combination, db.url, streamKey);
    ({ sql, stream } = adapters);
    await stream.ensureGroup();
    redis = new Redis(TEST_REDIS_URL);
    pipeline = createTestPipeline({ sql, stream, settings: { retryBaseMs: 200 } });
  });

  afterAll(async () => {
    await redis.del(streamKey, `${streamKey}:errors`);
    redis.disconnect();
    await adapters.close();
    await db.drop();
  });

  const processedRow = async (id: string) =>
    (await sql.query('SELECT * FROM processed_events WHERE event_id = :id', { id: { uuid: id } })).rows[0];
  const failedRow = async (id: string) =>
    (await sql.query('SELECT * FROM failed_events WHERE event_id = :id', { id: { uuid: id } })).rows[0];

  describe('an accepted event', () => {
    it('is answered 202 and ends processed, enriched, visible through GET /events/{id}', async () => {
      const sent = await pipeline.call('POST', '/events', {
        body: (({ event_id: _omitted, ...event }) => event)(purchase({ properties: { amount: 1500, sku: 'x' } })),
      });
      expect(sent.status).toBe(202);
      expect(sent.body).toMatchObject({ status: 'accepted', duplicate: false });
      const id = sent.body.event_id as string;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

      expect((await pipeline.call('GET', `/events/${id}`)).body.status).toBe('accepted');
      const summary = await pipeline.drainOnce();
      expect(summary.processed).toBe(1);

      const row = await processedRow(id);
      expect(row).toMatchObject({ event_type: 'purchase', user_id: 'u-1', attempts: 1, properties: { amount: 1500, sku: 'x' } });
      expect(row?.enriched_data).toMatchObject({ category: 'high_value', processed_by: pipeline.settings.consumer });
      const status = await pipeline.call('GET', `/events/${id}`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ event_id: id, status: 'processed', attempts: 1 });
      expect(await pipeline.counter('events_processed_total', { event_type: 'purchase' })).toBeGreaterThanOrEqual(1);
      expect(await redis.xpending(streamKey, 'workers')).toEqual([0, null, null, null]);
    });

    it('keeps the producer timestamp in UTC and enriches page views with the session start', async () => {
      const sent = await pipeline.call('POST', '/events', {
        body: { event_type: 'page_view', timestamp: '2026-01-02T10:00:00+05:30', properties: { page: '/' } },
      });
      await pipeline.drainOnce();
      const row = await processedRow(sent.body.event_id);
      expect(row?.occurred_at).toBe('2026-01-02T04:30:00.000Z');
      expect(row?.enriched_data).toMatchObject({ session_start: '2026-01-02T04:30:00.000Z' });
    });
  });

  describe('the same event_id sent more than once', () => {
    it('sequentially: every send is 202, one processed row, the repeat counted as a duplicate', async () => {
      const event = purchase({ event_id: crypto.randomUUID() });
      const first = await pipeline.call('POST', '/events', { body: event });
      const second = await pipeline.call('POST', '/events', { body: event });
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(second.body).toMatchObject({ event_id: event.event_id, duplicate: true, received_at: first.body.received_at });

      const summary = await pipeline.drainOnce();
      expect(summary.processed).toBe(1);
      expect(summary.duplicates).toBe(1);
      const third = await pipeline.call('POST', '/events', { body: event });
      expect(third.status).toBe(202);
      await pipeline.drainOnce();
      expect(await countRows(sql, 'processed_events', 'event_id = :id', { id: { uuid: event.event_id } })).toBe(1);
    });

    it('concurrently: ten sends at once give one raw row and one processed row', async () => {
      const event = purchase({ event_id: crypto.randomUUID() });
      const responses = await Promise.all(Array.from({ length: 10 }, () => pipeline.call('POST', '/events', { body: event })));
      expect(responses.map((r) => r.status)).toEqual(Array(10).fill(202));
      expect(responses.filter((r) => r.body.duplicate === false)).toHaveLength(1);
      const summary = await pipeline.drainOnce();
      expect(summary.processed).toBe(1);
      expect(await countRows(sql, 'raw_events', 'event_id = :id', { id: { uuid: event.event_id } })).toBe(1);
      expect(await countRows(sql, 'processed_events', 'event_id = :id', { id: { uuid: event.event_id } })).toBe(1);
    });

    it('with a different payload is refused with 409 and changes nothing', async () => {
      const event = purchase({ event_id: crypto.randomUUID() });
      await pipeline.call('POST', '/events', { body: event });
      const clash = await pipeline.call('POST', '/events', { body: { ...event, properties: { amount: 99 } } });
      expect(clash.status).toBe(409);
      expect(clash.body).toMatchObject({ error: 'event_id_conflict' });
      await pipeline.drainOnce();
      expect((await processedRow(event.event_id))?.properties).toEqual(event.properties);
    });
  });

  describe('permanent failures', () => {
    it('a business-rule violation ends in failed_events with its reason, without retries', async () => {
      const sent = await pipeline.call('POST', '/events', { body: purchase({ properties: { amount: 0 } }) });
      expect(sent.status).toBe(202);
      const summary = await pipeline.drainOnce();
      expect(summary.failed).toBe(1);
      const row = await failedRow(sent.body.event_id);
      expect(row).toMatchObject({
        error_type: 'RuleViolation',
        error_message: 'properties.amount must be greater than 0',
        attempts: 1,
      });
      const status = await pipeline.call('GET', `/events/${sent.body.event_id}`);
      expect(status.body).toMatchObject({ status: 'failed', error: { type: 'RuleViolation' } });
      expect(await processedRow(sent.body.event_id)).toBeUndefined();
    });

    it('user_signup without user_id and a timestamp past the skew are violations too', async () => {
      const signup = await pipeline.call('POST', '/events', { body: { event_type: 'user_signup' } });
      const future = await pipeline.call('POST', '/events', {
        body: { event_type: 'custom', timestamp: new Date(Date.now() + 3_600_000).toISOString() },
      });
      await pipeline.drainOnce();
      expect((await failedRow(signup.body.event_id))?.error_message).toBe('user_id is required for user_signup events');
      expect((await failedRow(future.body.event_id))?.error_message).toBe('timestamp is more than 300 s in the future');
    });

    it('an unparsable stream entry is dead-lettered once and acknowledged', async () => {
      const entryId = await redis.xadd(streamKey, '*', 'data', '{not json');
      const noData = await redis.xadd(streamKey, '*', 'other', 'x');
      const summary = await pipeline.drainOnce();
      expect(summary.failed).toBe(2);
      const rows = await sql.query<{ payload: { stream_entry_id: string } }>(
        "SELECT payload FROM failed_events WHERE error_type = 'UnparsableEntry' ORDER BY failed_at",
      );
      expect(rows.rows.map((r) => r.payload.stream_entry_id)).toEqual(expect.arrayContaining([entryId, noData]));
      expect((await redis.xpending(streamKey, 'workers'))[0]).toBe(0);
    });
  });

  describe('a consumer that dies mid-batch', () => {
    it('leaves its entries pending; a new consumer reclaims them after the backoff and finishes', async () => {
      const sent = await Promise.all([1, 2, 3].map(() => pipeline.call('POST', '/events', { body: purchase() })));
      const crashed = await stream.readNew(uniqueName('crashed'), { count: 10 });
      expect(crashed.length).toBeGreaterThanOrEqual(3);

      const early = await pipeline.drainOnce();
      expect(early.processed).toBe(0);
      await sleep(250);
      const later = await pipeline.drainOnce();
      expect(later.processed).toBe(3);
      for (const response of sent) expect((await processedRow(response.body.event_id))?.attempts).toBe(2);
    });
  });

  describe('what the database cannot store and large events', () => {
    it('a poison entry with a NUL byte is dead-lettered under its own id without holding back its batch', async () => {
      const violation = purchase({ properties: { amount: -1 } });
      await pipeline.call('POST', '/events', { body: violation });
      const poisonId = await redis.xadd(streamKey, '*', 'data', 'garbage\u0000bytes');
      const summary = await pipeline.drainOnce();
      expect(summary.failed).toBe(2);
      expect((await failedRow(violation.event_id))?.error_type).toBe('RuleViolation');
      const poison = await sql.query<{ payload: { stream_entry_id: string; data: string; data_base64: string } }>(
        "SELECT payload FROM failed_events WHERE payload->>'stream_entry_id' = :id",
        { id: poisonId as string },
      );
      expect(poison.rows[0]?.payload).toMatchObject({ data: 'garbage\uFFFDbytes' });
      expect(Buffer.from(poison.rows[0]?.payload.data_base64 ?? '', 'base64').toString()).toBe('garbage\u0000bytes');
      expect((await redis.xpending(streamKey, 'workers'))[0]).toBe(0);
    });

    it('a retry with properties holding -0 is the same event (202, duplicate)', async () => {
      const raw = JSON.stringify(purchase({ properties: { amount: 5, delta: 0 } })).replace('"delta":0', '"delta":-0');
      expect((await pipeline.call('POST', '/events', { rawBody: raw })).status).toBe(202);
      const again = await pipeline.call('POST', '/events', { rawBody: raw });
      expect(again.status).toBe(202);
      expect(again.body.duplicate).toBe(true);
    });

    it('events near 32 KB travel in size-bounded statements: accepted, processed, failed, replayed', async () => {
      await pipeline.drainOnce(); // what earlier tests left
      const blob = 'x'.repeat(31_000);
      const events = Array.from({ length: 30 }, (_, i) => purchase({ properties: { amount: i % 3 === 0 ? 0 : 1, blob } }));
      for (let i = 0; i < 30; i += 10) {
        expect((await pipeline.call('POST', '/events/batch', { body: { events: events.slice(i, i + 10) } })).status).toBe(202);
      }
      const summary = await pipeline.drainOnce();
      expect(summary).toMatchObject({ processed: 20, failed: 10 });
      // A replay reads the payloads back in pages (the Data API caps a response at 1 MiB).
      const redrive = await redriveFailed(
        { sql, stream, logger: pipeline.logger },
        { errorType: 'RuleViolation', limit: 100, dryRun: false },
      );
      expect(redrive.event_ids.length).toBeGreaterThanOrEqual(10);
      expect((await pipeline.drainOnce()).failed).toBeGreaterThanOrEqual(10);
    });
  });

  describe('batch ingest', () => {
    it('accepts the rest of a batch and answers 207 when an event_id is reused for a different event', async () => {
      const taken = purchase();
      await pipeline.call('POST', '/events', { body: taken });
      const fresh = purchase();
      const sent = await pipeline.call('POST', '/events/batch', {
        body: { events: [fresh, { ...taken, properties: { amount: 1 } }] },
      });
      expect(sent.status).toBe(207);
      expect(sent.body).toMatchObject({
        accepted: 1,
        conflicts: 1,
        rejected: 0,
        results: [
          { event_id: fresh.event_id, status: 'accepted' },
          { event_id: taken.event_id, status: 'conflict' },
        ],
      });
      await pipeline.drainOnce();
      expect((await processedRow(fresh.event_id))?.event_type).toBe('purchase');
      expect((await processedRow(taken.event_id))?.properties).toEqual(taken.properties);
    });

    it('admin redrive accepts an IAM-signed request (API Gateway sets the caller ARN) without a token', async () => {
      const { apiRequest, lambdaContext } = await import('../support/events.ts');
      const event = apiRequest('POST', '/admin/redrive', { body: { all: true, dry_run: true } });
      const signed = {
        ...event,
        requestContext: {
          ...event.requestContext,
          identity: { ...event.requestContext.identity, userArn: 'arn:aws:iam::1:user/ops' },
        },
      };
      const response = await pipeline.app(signed, lambdaContext());
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({ dry_run: true });
    });

    it('accepts up to 100 events in one request and processes them all', async () => {
      const events = Array.from({ length: 25 }, (_, i) => purchase({ properties: { amount: i + 1 } }));
      const sent = await pipeline.call('POST', '/events/batch', { body: { events } });
      expect(sent.status).toBe(202);
      expect(sent.body).toMatchObject({ accepted: 25, duplicates: 0, conflicts: 0, rejected: 0 });
      const summary = await pipeline.drainOnce();
      expect(summary.processed).toBe(25);
      const again = await pipeline.call('POST', '/events/batch', { body: { events } }); // resending is safe
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ accepted: 0, duplicates: 25 });
      expect(again.body.results[0]).toMatchObject({ status: 'duplicate', event_id: events[0]?.event_id });
    });

    it('stores the valid items of a mixed batch and names the invalid ones (207): 97 of 100', async () => {
      const before = await countRows(sql, 'raw_events');
      const events: unknown[] = Array.from({ length: 100 }, () => purchase());
      events[10] = { event_type: 'refund' };
      events[50] = purchase({ user_id: 'x'.repeat(256) });
      events[99] = { event_type: 'custom', colour: 'red' };
      const sent = await pipeline.call('POST', '/events/batch', { body: { events } });
      expect(sent.status).toBe(207);
      expect(sent.body).toMatchObject({ accepted: 97, rejected: 3 });
      const rejected = sent.body.results.filter((r: { status: string }) => r.status === 'rejected');
      expect(rejected).toEqual([
        {
          index: 10,
          status: 'rejected',
          event_id: null,
          issues: [{ path: 'events[10].event_type', message: 'must be one of purchase, user_signup, page_view, custom' }],
        },
        {
          index: 50,
          status: 'rejected',
          event_id: (events[50] as { event_id: string }).event_id,
          issues: [{ path: 'events[50].user_id', message: 'must be at most 255 characters' }],
        },
        { index: 99, status: 'rejected', event_id: null, issues: [{ path: 'events[99]', message: 'unknown field: colour' }] },
      ]);
      expect(await countRows(sql, 'raw_events')).toBe(before + 97);
      // The producer resends the whole batch: safe, the 97 come back as duplicates.
      const again = await pipeline.call('POST', '/events/batch', { body: { events } });
      expect(again.body).toMatchObject({ accepted: 0, duplicates: 97, rejected: 3 });
      expect(await countRows(sql, 'raw_events')).toBe(before + 97);
    });

    it('with ?atomic=true refuses the whole batch when one event is invalid, naming it, and stores nothing', async () => {
      const before = await countRows(sql, 'raw_events');
      const sent = await pipeline.call('POST', '/events/batch?atomic=true', {
        body: { events: [purchase(), { event_type: 'refund' }, purchase({ user_id: 'x'.repeat(256) })] },
      });
      expect(sent.status).toBe(400);
      expect(sent.body.issues).toEqual([
        { path: 'events[1].event_type', message: 'must be one of purchase, user_signup, page_view, custom' },
        { path: 'events[2].user_id', message: 'must be at most 255 characters' },
      ]);
      expect(await countRows(sql, 'raw_events')).toBe(before);
    });
  });

  describe('client errors', () => {
    const cases: Array<[string, Parameters<typeof pipeline.call>, number, Record<string, unknown>]> = [
      ['malformed JSON', ['POST', '/events', { rawBody: '{"event_type": ' }], 400, { error: 'malformed_json' }],
      ['a JSON array', ['POST', '/events', { rawBody: '[1]' }], 400, { error: 'validation_failed' }],
      [
        'an unknown field',
        ['POST', '/events', { body: { event_type: 'custom', colour: 'red' } }],
        400,
        {
          issues: [{ path: '(body)', message: 'unknown field: colour' }],
        },
      ],
      [
        'a bad event_id',
        ['POST', '/events', { body: { event_type: 'custom', event_id: '123' } }],
        400,
        {
          issues: [{ path: 'event_id', message: 'must be a UUID' }],
        },
      ],
      [
        'properties not an object',
        ['POST', '/events', { body: { event_type: 'custom', properties: [1] } }],
        400,
        {
          issues: [{ path: 'properties', message: 'must be a JSON object' }],
        },
      ],
      [
        'a reserved key',
        ['POST', '/events', { rawBody: '{"event_type":"custom","properties":{"a":{"__proto__":{"x":1}}}}' }],
        400,
        {
          issues: [{ path: 'properties.a.__proto__', message: 'key "__proto__" is reserved' }],
        },
      ],
      [
        'a body too large',
        ['POST', '/events', { body: { event_type: 'custom', properties: { blob: 'x'.repeat(70_000) } } }],
        413,
        {
          error: 'payload_too_large',
        },
      ],
      [
        'an event over 32 KB',
        ['POST', '/events', { body: { event_type: 'custom', properties: { blob: 'x'.repeat(33_000) } } }],
        413,
        {
          error: 'event_too_large',
        },
      ],
      [
        'a non-JSON content type',
        ['POST', '/events', { rawBody: 'a=1', headers: { 'Content-Type': 'text/plain' } }],
        415,
        {
          error: 'unsupported_media_type',
        },
      ],
      ['an unknown route', ['GET', '/nope'], 404, { error: 'not_found' }],
      ['a wrong method', ['DELETE', '/events'], 405, { error: 'method_not_allowed' }],
      ['a lookup by a non-UUID', ['GET', '/events/abc'], 400, { issues: [{ path: 'id', message: 'must be a UUID' }] }],
      ['a malformed percent escape', ['GET', '/events/%E0%A4%A'], 400, { error: 'malformed_path' }],
      [
        'a timestamp past year 9999 in UTC',
        ['POST', '/events', { body: { event_type: 'custom', timestamp: '9999-12-31T23:59:59-05:00' } }],
        400,
        { issues: [{ path: 'timestamp', message: 'must be between 0001-01-01 and 9999-12-31 in UTC' }] },
      ],
      [
        'a NUL character in a property',
        ['POST', '/events', { body: { event_type: 'custom', properties: { note: 'a\u0000b' } } }],
        400,
        { issues: [{ path: 'properties.note', message: 'must not contain NUL characters or unpaired surrogates' }] },
      ],
      [
        'an unpaired surrogate in user_id',
        ['POST', '/events', { rawBody: '{"event_type":"custom","user_id":"u\\ud800"}' }],
        400,
        { issues: [{ path: 'user_id', message: 'must not contain NUL characters or unpaired surrogates' }] },
      ],
      [
        'a number too large for a double',
        ['POST', '/events', { rawBody: '{"event_type":"custom","properties":{"big":1e400}}' }],
        400,
        { issues: [{ path: 'properties.big', message: 'numbers must be finite' }] },
      ],
      [
        'a lookup of an unknown event',
        ['GET', `/events/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`],
        404,
        { error: 'not_found' },
      ],
      ['redrive without a token', ['POST', '/admin/redrive', { body: { all: true } }], 403, { error: 'forbidden' }],
    ];

    it.each(cases)('%s → %s with an explanation, nothing stored', async (_name, args, status, body) => {
      const before = await countRows(sql, 'raw_events');
      const response = await pipeline.call(...args);
      expect(response.status).toBe(status);
      expect(response.body).toMatchObject(body);
      expect(response.body.message).toEqual(expect.any(String));
      expect(JSON.stringify(response.body)).not.toMatch(/at \w+ \(|node_modules/);
      expect(await countRows(sql, 'raw_events')).toBe(before);
    });

    it('routes by the API Gateway resource template even when the path carries a base path', async () => {
      const sent = await pipeline.call('POST', '/events', { body: purchase() });
      const { apiRequest, lambdaContext } = await import('../support/events.ts');
      const event = {
        ...apiRequest('GET', `/ingest/events/${sent.body.event_id}`),
        resource: '/events/{id}',
        pathParameters: { id: sent.body.event_id },
      };
      const response = await pipeline.app(event, lambdaContext());
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({ event_id: sent.body.event_id });
    });

    it('never answers 500 to client input, whatever the body (fuzzed)', async () => {
      const bodies = fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc
          .record({ event_type: fc.constantFrom('purchase', 'custom', 'page_view', 'x'), properties: fc.jsonValue() })
          .map((v) => JSON.stringify(v)),
        fc.string(),
      );
      await fc.assert(
        fc.asyncProperty(bodies, fc.constantFrom('/events', '/events/batch'), async (rawBody, path) => {
          const response = await pipeline.call('POST', path, { rawBody, headers: { 'Content-Type': 'application/json' } });
          expect([202, 207, 400, 409, 413]).toContain(response.status);
          expect(response.body).toEqual(expect.any(Object));
        }),
        { numRuns: 150 },
      );
    });

    describe('hostile encodings and nesting (fuzzed): never a 5xx, nothing stored', () => {
      const routes = fc.constantFrom('/events', '/events/batch');
      /** POSTs raw bytes, base64-encoded as API Gateway passes binary bodies, or as a plain string. */
      async function postBytes(path: string, bytes: Buffer, options: { contentType?: string; base64?: boolean } = {}) {
        const event = apiRequest('POST', path, { headers: { 'Content-Type': options.contentType ?? 'application/json' } });
        const base64 = options.base64 ?? true;
        const response = await pipeline.app(
          { ...event, body: base64 ? bytes.toString('base64') : bytes.toString('utf8'), isBase64Encoded: base64 },
          lambdaContext(),
        );
        return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown> };
      }
      /** One event as the route expects it: alone, or as the only member of a batch. */
      const wrap = (path: string, eventJson: string) => (path === '/events' ? eventJson : `{"events":[${eventJson}]}`);

      /** `depth` levels of arrays and objects, cycling through `shape`, around a leaf. */
      function nested(depth: number, shape: ReadonlyArray<'array' | 'object'>): string {
        const open: string[] = [];
        const close: string[] = [];
        for (let level = 0; level < depth; level++) {
          const kind = shape[level % shape.length];
          open.push(kind === 'array' ? '[' : '{"k":');
          close.push(kind === 'array' ? ']' : '}');
        }
        return `${open.join('')}1${close.reverse().join('')}`;
      }
      const depths = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 20, max: 10_000 }), fc.constant(100_000));
      const shapes = fc.oneof(
        fc.constant(['array'] as const),
        fc.constant(['object'] as const),
        fc.array(fc.constantFrom('array' as const, 'object' as const), { minLength: 2, maxLength: 5 }),
      );

      it('deep arrays, deep objects and any mix up to 100,000 levels: 400 or 413, never a 5xx', async () => {
        await fc.assert(
          fc.asyncProperty(routes, depths, shapes, fc.boolean(), async (path, depth, shape, inProperties) => {
            const deep = nested(depth, shape);
            const eventJson = inProperties ? `{"event_type":"custom","properties":{"p":${deep}}}` : deep;
            const before = await countRows(sql, 'raw_events');
            const response = await postBytes(path, Buffer.from(wrap(path, eventJson)));
            // Shallow enough (properties.p at depth 1, so 8 levels inside it) is a valid event.
            const valid = inProperties && depth <= 8;
            expect(valid ? [202] : [400, 413]).toContain(response.status);
            if (!valid) expect(await countRows(sql, 'raw_events')).toBe(before);
          }),
          { numRuns: 60 },
        );
      });

      const invalidSequences = fc.constantFrom(
        [0xff],
        [0xc0, 0x80], // overlong encoding of NUL
        [0xed, 0xa0, 0x80], // a UTF-16 surrogate encoded as UTF-8
        [0x80], // a continuation byte with no lead
        [0xe2, 0x82], // a sequence cut short
        [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
        [0xfe, 0xfe, 0xff, 0xff],
      );

      it('invalid UTF-8 anywhere in the body: 400 invalid_utf8 naming the offset, nothing stored', async () => {
        await fc.assert(
          fc.asyncProperty(
            routes,
            invalidSequences,
            fc.string({ maxLength: 40 }),
            fc.nat(),
            async (path, sequence, note, where) => {
              const valid = Buffer.from(wrap(path, JSON.stringify(purchase({ properties: { amount: 1, note } }))));
              const at = where % (valid.length + 1);
              const bytes = Buffer.concat([valid.subarray(0, at), Buffer.from(sequence), valid.subarray(at)]);
              const before = await countRows(sql, 'raw_events');
              const response = await postBytes(path, bytes);
              expect(response.status).toBe(400);
              expect(response.body).toMatchObject({
                error: 'invalid_utf8',
                message: expect.stringMatching(/not valid UTF-8.*offset \d+/),
              });
              expect(await countRows(sql, 'raw_events')).toBe(before);
            },
          ),
          { numRuns: 60 },
        );
      });

      it('a charset other than UTF-8: 415 naming it, nothing stored; utf-8 in any spelling is accepted', async () => {
        const charsets = fc.oneof(
          fc.constantFrom('iso-8859-1', 'latin1', 'utf-16', 'UTF-16LE', 'windows-1252', 'us-ascii', 'Shift_JIS', '"koi8-r"'),
          fc.stringMatching(/^[A-Za-z0-9_.:+-]{1,20}$/),
          fc.constantFrom('utf-8', 'UTF-8', 'utf8', '"utf-8"'),
        );
        await fc.assert(
          fc.asyncProperty(routes, charsets, fc.boolean(), async (path, charset, base64) => {
            const bytes = Buffer.from(wrap(path, JSON.stringify(purchase())));
            const before = await countRows(sql, 'raw_events');
            const response = await postBytes(path, bytes, { contentType: `application/json; charset=${charset}`, base64 });
            const name = charset.replace(/^"(.*)"$/, '$1').toLowerCase();
            if (name === 'utf-8' || name === 'utf8') {
              expect(response.status).toBe(202);
              return;
            }
            expect(response.status).toBe(415);
            expect(response.body).toMatchObject({ error: 'unsupported_charset', message: expect.stringContaining(`"${name}"`) });
            expect(await countRows(sql, 'raw_events')).toBe(before);
          }),
          { numRuns: 60 },
        );
      });
    });

    it('a reserved key does not pollute Object.prototype', async () => {
      await pipeline.call('POST', '/events', {
        rawBody: '{"event_type":"custom","properties":{"constructor":{"prototype":{"polluted":1}}}}',
      });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('GET /health and /metrics/summary', () => {
    it('reports both dependencies up with their latency', async () => {
      const health = await pipeline.call('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'ok', dependencies: { database: { status: 'up' }, stream: { status: 'up' } } });
    });

    it('summarises the backlog', async () => {
      await pipeline.call('POST', '/events', { body: purchase() });
      const summary = await pipeline.call('GET', '/metrics/summary');
      expect(summary.status).toBe(200);
      expect(summary.body.lag).toBeGreaterThanOrEqual(1);
      expect(summary.body.queue_depth).toBeGreaterThanOrEqual(1);
      await pipeline.drainOnce();
      expect((await pipeline.call('GET', '/metrics/summary')).body.queue_depth).toBe(0);
    });
  });
});
