// `npm run migrate` on a database made by the original Python service's init_db.sql: every row is
// kept with its values, and our pipeline then runs on it (ingest, drain, status, redrive).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { migrate } from '../../lambdas/core/migrations.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';
import { type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { runScript } from '../support/processes.ts';
import {
  countRows,
  createTestDatabase,
  deleteStreamKeys,
  TEST_REDIS_URL,
  type TestDatabase,
  uniqueName,
} from '../support/services.ts';

/** The original's schema (SEED-API.md "Tables"): surrogate ids, naive timestamps, failures not unique. */
const ORIGINAL_SCHEMA = `
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE raw_events (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id UUID UNIQUE NOT NULL,
  payload JSONB NOT NULL,
  received_at TIMESTAMP NOT NULL DEFAULT NOW()
);
CREATE TABLE processed_events (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  event_id UUID UNIQUE NOT NULL,
  event_type VARCHAR(50) NOT NULL,
  user_id VARCHAR(255),
  timestamp TIMESTAMP NOT NULL,
  properties JSONB,
  processed_at TIMESTAMP NOT NULL DEFAULT NOW(),
  status VARCHAR(50) NOT NULL,
  enriched_data JSONB,
  retry_count INTEGER DEFAULT 0
);
CREATE TABLE failed_events (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  event_id UUID NOT NULL,
  payload JSONB NOT NULL,
  error_message TEXT,
  failed_at TIMESTAMP NOT NULL DEFAULT NOW(),
  retry_count INTEGER DEFAULT 0
);
CREATE INDEX idx_raw_events_event_id ON raw_events(event_id);
CREATE INDEX idx_raw_events_received_at ON raw_events(received_at);
CREATE INDEX idx_processed_events_event_id ON processed_events(event_id);
CREATE INDEX idx_processed_events_event_type ON processed_events(event_type);
CREATE INDEX idx_processed_events_user_id ON processed_events(user_id);
CREATE INDEX idx_processed_events_status ON processed_events(status);
CREATE INDEX idx_processed_events_processed_at ON processed_events(processed_at);
CREATE INDEX idx_failed_events_event_id ON failed_events(event_id);
CREATE INDEX idx_failed_events_failed_at ON failed_events(failed_at);
`;

const ID = {
  processed: '11111111-1111-4111-8111-111111111111',
  failedThrice: '22222222-2222-4222-8222-222222222222',
  failedThenProcessed: '33333333-3333-4333-8333-333333333333',
  pending: '44444444-4444-4444-8444-444444444444',
  sparse: '55555555-5555-4555-8555-555555555555',
};

// What the original stored: Pydantic's JSON dump of the event (naive or zoned timestamp strings).
const payload = (event_id: string, event_type: string, extra: Record<string, unknown>) => ({
  event_id,
  event_type,
  user_id: 'u-1',
  properties: {},
  ...extra,
});

const ORIGINAL_ROWS = `
INSERT INTO raw_events (event_id, payload, received_at) VALUES
  ('${ID.processed}', '${JSON.stringify(payload(ID.processed, 'purchase', { timestamp: '2025-03-01T10:00:00', properties: { amount: 1500 } }))}', '2025-03-01 10:00:00'),
  ('${ID.failedThrice}', '${JSON.stringify(payload(ID.failedThrice, 'purchase', { timestamp: '2025-03-01T10:01:00', properties: { amount: 20 } }))}', '2025-03-01 10:01:00'),
  ('${ID.failedThenProcessed}', '${JSON.stringify(payload(ID.failedThenProcessed, 'user_signup', { timestamp: '2025-03-01T10:02:00.250000' }))}', '2025-03-01 10:02:00.25'),
  ('${ID.pending}', '${JSON.stringify(payload(ID.pending, 'page_view', { timestamp: '2025-03-01T12:03:00+02:00' }))}', '2025-03-01 10:03:00'),
  ('${ID.sparse}', '${JSON.stringify(payload(ID.sparse, 'custom', { user_id: null, timestamp: '2025-03-01T10:04:00' }))}', '2025-03-01 10:04:00');
INSERT INTO processed_events (event_id, event_type, user_id, timestamp, properties, processed_at, status, enriched_data, retry_count) VALUES
  ('${ID.processed}', 'purchase', 'u-1', '2025-03-01 10:00:00', '{"amount": 1500}', '2025-03-01 10:00:02.123456', 'completed',
   '{"category": "high_value", "processed_by": "worker-1", "processing_timestamp": "2025-03-01T10:00:02.123456"}', 0),
  ('${ID.failedThenProcessed}', 'user_signup', 'u-1', '2025-03-01 10:02:00.25', '{}', '2025-03-01 10:02:09', 'completed', '{"processed_by": "worker-1"}', 1),
  ('${ID.sparse}', 'custom', NULL, '2025-03-01 10:04:00', NULL, '2025-03-01 10:04:01', 'completed', NULL, 0);
INSERT INTO failed_events (event_id, payload, error_message, failed_at, retry_count) VALUES
  ('${ID.failedThrice}', '{"event_id": "${ID.failedThrice}", "event_type": "purchase", "user_id": "u-1", "timestamp": "2025-03-01T10:01:00", "properties": {"amount": 20}}', 'db timeout (1)', '2025-03-01 10:01:02', 0),
  ('${ID.failedThrice}', '{"event_id": "${ID.failedThrice}", "event_type": "purchase", "user_id": "u-1", "timestamp": "2025-03-01T10:01:00", "properties": {"amount": 20}}', 'db timeout (2)', '2025-03-01 10:01:06', 1),
  ('${ID.failedThrice}', '{"event_id": "${ID.failedThrice}", "event_type": "purchase", "user_id": "u-1", "timestamp": "2025-03-01T10:01:00", "properties": {"amount": 20}}', 'db timeout (3)', '2025-03-01 10:01:14.5', 2),
  ('${ID.failedThenProcessed}', '{"event_id": "${ID.failedThenProcessed}", "event_type": "user_signup"}', NULL, '2025-03-01 10:02:04', 0);
`;

let db: TestDatabase;
let client: pg.Client;
let before: { raw: Array<{ id: string; event_id: string }>; failed: Array<Record<string, unknown>> };
let migrateOutput = '';
let secondOutput = '';

const rows = async (text: string) => (await client.query(text)).rows;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  // A server zone other than UTC: the original's naive timestamps must still be read as UTC.
  await client.query(`ALTER DATABASE ${db.name} SET timezone = 'America/New_York'`);
  await client.query(ORIGINAL_SCHEMA);
  await client.query(ORIGINAL_ROWS);
  before = {
    raw: await rows('SELECT id::text, event_id::text FROM raw_events ORDER BY event_id'),
    failed: await rows(
      "SELECT id::text, event_id::text, payload, error_message, to_char(failed_at, 'YYYY-MM-DD HH24:MI:SS.US') AS failed_at, retry_count FROM failed_events ORDER BY id",
    ),
  };
  const env = { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, POWERTOOLS_LOG_LEVEL: 'ERROR' };
  const first = runScript('scripts/migrate.ts', [], env);
  expect(await first.exited()).toBe(0);
  migrateOutput = first.output();
  const second = runScript('scripts/migrate.ts', [], env);
  expect(await second.exited()).toBe(0);
  secondOutput = second.output();
}, 60_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe('npm run migrate on the original service database', () => {
  it('upgrades it in place once, then finds it up to date', async () => {
    expect(migrateOutput).toMatch(/applied 000_from_original, 001_initial/);
    expect(secondOutput).toMatch(/is up to date/);
    const versions = (await rows('SELECT version FROM schema_migrations ORDER BY version')).map((row) => row.version);
    expect(versions.slice(0, 2)).toEqual(['000_from_original', '001_initial']);
  });

  it('drops the original indexes no statement of ours uses, keeping the dead letters by failure time', async () => {
    const indexes = await rows(
      `SELECT tablename, indexname FROM pg_indexes
       WHERE schemaname = current_schema() AND tablename IN ('raw_events', 'processed_events', 'failed_events')
       ORDER BY tablename, indexname`,
    );
    const names = (table: string) => indexes.filter((row) => row.tablename === table).map((row) => row.indexname);
    expect(names('processed_events')).toEqual(['processed_events_pkey']);
    expect(names('raw_events')).not.toContain('idx_raw_events_event_id');
    expect(names('raw_events')).not.toContain('idx_raw_events_received_at');
    expect(names('raw_events')).toContain('raw_events_unresolved_idx');
    expect(names('failed_events')).not.toContain('idx_failed_events_event_id');
    expect(names('failed_events')).toContain('idx_failed_events_failed_at');
  });

  it('keeps every raw event with its surrogate id, its time read as UTC, and the outcome the other tables imply', async () => {
    const raw = await rows(
      `SELECT id::text, event_id::text, outcome, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS received_at,
              to_char(outcome_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS outcome_at, payload
       FROM raw_events ORDER BY event_id`,
    );
    expect(raw.map(({ id, event_id }) => ({ id, event_id }))).toEqual(before.raw);
    expect(raw.map((row) => [row.event_id, row.outcome, row.received_at, row.outcome_at])).toEqual([
      [ID.processed, 'processed', '2025-03-01 10:00:00.000000', '2025-03-01 10:00:02.123456'],
      [ID.failedThrice, 'failed', '2025-03-01 10:01:00.000000', '2025-03-01 10:01:14.500000'],
      [ID.failedThenProcessed, 'processed', '2025-03-01 10:02:00.250000', '2025-03-01 10:02:09.000000'],
      [ID.pending, null, '2025-03-01 10:03:00.000000', null],
      [ID.sparse, 'processed', '2025-03-01 10:04:00.000000', '2025-03-01 10:04:01.000000'],
    ]);
    // Payloads now read as accepted events: zoned timestamps in UTC with Z, received_at added.
    expect(raw[3]?.payload).toEqual({
      event_id: ID.pending,
      event_type: 'page_view',
      user_id: 'u-1',
      properties: {},
      timestamp: '2025-03-01T10:03:00.000Z',
      received_at: '2025-03-01T10:03:00.000Z',
    });
    expect(raw[4]?.payload).toMatchObject({ user_id: null, timestamp: '2025-03-01T10:04:00.000Z' });
  });

  it('keeps every processed event with its values under our column names', async () => {
    const processed = await rows(
      `SELECT event_id::text, event_type, user_id, properties, enriched_data, attempts, status,
              to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS occurred_at,
              to_char(processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS processed_at
       FROM processed_events ORDER BY event_id`,
    );
    expect(processed).toEqual([
      {
        event_id: ID.processed,
        event_type: 'purchase',
        user_id: 'u-1',
        properties: { amount: 1500 },
        enriched_data: { category: 'high_value', processed_by: 'worker-1', processing_timestamp: '2025-03-01T10:00:02.123456' },
        attempts: 1,
        status: 'completed',
        occurred_at: '2025-03-01 10:00:00.000000',
        processed_at: '2025-03-01 10:00:02.123456',
      },
      {
        event_id: ID.failedThenProcessed,
        event_type: 'user_signup',
        user_id: 'u-1',
        properties: {},
        enriched_data: { processed_by: 'worker-1' },
        attempts: 2,
        status: 'completed',
        occurred_at: '2025-03-01 10:02:00.250000',
        processed_at: '2025-03-01 10:02:09.000000',
      },
      {
        event_id: ID.sparse,
        event_type: 'custom',
        user_id: null,
        properties: {},
        enriched_data: {},
        attempts: 1,
        status: 'completed',
        occurred_at: '2025-03-01 10:04:00.000000',
        processed_at: '2025-03-01 10:04:01.000000',
      },
    ]);
  });

  it('keeps every failure row as it was, and one dead letter per event that ended failed', async () => {
    const history = await rows(
      "SELECT id::text, event_id::text, payload, error_message, to_char(failed_at, 'YYYY-MM-DD HH24:MI:SS.US') AS failed_at, retry_count FROM original_failed_events ORDER BY id",
    );
    expect(history).toEqual(before.failed);
    expect(history.filter((row) => row.event_id === ID.failedThrice)).toHaveLength(3);

    const failed = await rows(
      `SELECT event_id::text, error_type, error_message, attempts, replay_count, replayed_at, payload,
              to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS failed_at
       FROM failed_events`,
    );
    expect(failed).toEqual([
      {
        event_id: ID.failedThrice,
        error_type: 'OriginalServiceFailure',
        error_message: 'db timeout (3)',
        attempts: 3,
        replay_count: 0,
        replayed_at: null,
        failed_at: '2025-03-01 10:01:14.500000',
        payload: {
          event_id: ID.failedThrice,
          event_type: 'purchase',
          user_id: 'u-1',
          properties: { amount: 20 },
          timestamp: '2025-03-01T10:01:00.000Z',
          received_at: '2025-03-01T10:01:00.000Z',
        },
      },
    ]);
  });
});

describe('our pipeline on the migrated database', () => {
  let sql: SqlExecutor;
  let adapters: OpenAdapters;
  let pipeline: ReturnType<typeof createTestPipeline>;
  const streamKey = uniqueName('events');

  beforeAll(async () => {
    adapters = await openAdapters('pg+ioredis', db.url, streamKey);
    sql = adapters.sql;
    await adapters.stream.ensureGroup();
    pipeline = createTestPipeline({ sql, stream: adapters.stream, adminToken: 'migrate-original-admin-token' });
  });

  afterAll(async () => {
    await deleteStreamKeys(streamKey);
    await adapters?.close();
  });

  it('ingests and processes a new event next to the old ones', async () => {
    const sent = await pipeline.call('POST', '/events', {
      body: { event_type: 'purchase', user_id: 'u-9', properties: { amount: 5 } },
    });
    expect(sent.status).toBe(202);
    await pipeline.drainOnce();
    const id = sent.body.event_id as string;
    expect((await pipeline.call('GET', `/events/${id}`)).body).toMatchObject({ status: 'processed' });
    expect(await countRows(sql, 'processed_events')).toBe(4);
    // A row written by us fills the original's columns too (its id and status have defaults now).
    const [row] = await rows(`SELECT id IS NOT NULL AS has_id, status FROM processed_events WHERE event_id = '${id}'`);
    expect(row).toEqual({ has_id: true, status: 'completed' });
  });

  it('answers the status of an event the original processed', async () => {
    const status = await pipeline.call('GET', `/events/${ID.processed}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ event_id: ID.processed, status: 'processed' });
  });

  it('redrives an event the original dead-lettered; it ends processed and its failure history stays', async () => {
    const redrive = await pipeline.call('POST', '/admin/redrive', {
      body: { event_ids: [ID.failedThrice] },
      headers: { 'x-admin-token': 'migrate-original-admin-token' },
    });
    expect(redrive.status).toBe(200);
    await pipeline.drainOnce();
    expect((await pipeline.call('GET', `/events/${ID.failedThrice}`)).body).toMatchObject({ status: 'processed' });
    expect(await countRows(sql, 'failed_events')).toBe(0);
    expect(await countRows(sql, 'original_failed_events')).toBe(4);
  });
});

describe('the upgrade through the RDS Data API (the driver of the deploy-time migration Lambda)', () => {
  it('applies the same upgrade and keeps every row', async () => {
    const other = await createTestDatabase({ migrate: false });
    const setup = new pg.Client({ connectionString: other.url });
    await setup.connect();
    const streamKey = uniqueName('events');
    let adapters: OpenAdapters | undefined;
    try {
      await setup.query(ORIGINAL_SCHEMA);
      await setup.query(ORIGINAL_ROWS);
      adapters = await openAdapters('data-api+upstash', other.url, streamKey);
      const applied = await migrate(adapters.sql, loadMigrations());
      expect(applied.slice(0, 2)).toEqual(['000_from_original', '001_initial']);
      const counts = await setup.query(
        `SELECT (SELECT count(*) FROM raw_events)::int AS raw, (SELECT count(*) FROM processed_events)::int AS processed,
                (SELECT count(*) FROM failed_events)::int AS failed, (SELECT count(*) FROM original_failed_events)::int AS history,
                (SELECT count(*) FROM raw_events WHERE payload ? 'received_at')::int AS normalized`,
      );
      expect(counts.rows[0]).toEqual({ raw: 5, processed: 3, failed: 1, history: 4, normalized: 5 });
    } finally {
      await setup.end();
      await adapters?.close();
      await other.drop();
    }
  });
});

describe('npm run migrate on a database that never had the original schema', () => {
  it('skips the upgrade from the original and does not record it', async () => {
    const fresh = await createTestDatabase();
    const sql = createPgExecutor({ connectionString: fresh.url, max: 1 });
    try {
      expect(await countRows(sql, 'schema_migrations', "version = '000_from_original'")).toBe(0);
      expect(await countRows(sql, 'schema_migrations', "version = '001_initial'")).toBe(1);
      // processed_events is written once per event and read by event_id only: no secondary index.
      const indexes = await sql.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'processed_events'",
      );
      expect(indexes.rows.map((row) => row.indexname)).toEqual(['processed_events_pkey']);
    } finally {
      await sql.close();
      await fresh.drop();
    }
  });
});
