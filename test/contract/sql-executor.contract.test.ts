// One conformance suite for the SqlExecutor port, run against every adapter: pg, PGlite, and the Data API
// (real SDK → local endpoint → real Postgres). Never mocks Postgres; every run gets a database of its own.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchExecuteStatementCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
} from '@aws-sdk/client-rds-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { createDataApiExecutor, DATA_API_REQUEST_LIMIT_BYTES } from '../../lambdas/adapters/sql/data-api.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createPgliteExecutor } from '../../lambdas/adapters/sql/pglite.ts';
import { applyCondition, migrate } from '../../lambdas/core/migrations.ts';
import { DependencyUnavailableError, isTransient, SqlStatementError } from '../../lambdas/errors.ts';
import { type SqlExecutor, sqlJson, sqlUuid } from '../../lambdas/ports.ts';
import { startDataApiServer } from '../../scripts/local-endpoints/data-api.ts';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/services.ts';

const ARNS = {
  resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:contract-test',
  secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:contract-test',
};

function sdkClient(endpoint: string, maxAttempts?: number): RDSDataClient {
  return new RDSDataClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    ...(maxAttempts ? { maxAttempts } : {}),
  });
}

interface Running {
  readonly sql: SqlExecutor;
  /** What the first migrate() through this executor applied. */
  readonly applied: string[];
  stop(): Promise<void>;
}

interface Harness {
  readonly name: string;
  /** A freshly migrated executor on a database nobody else uses. */
  start(): Promise<Running>;
  /** Executors whose database (or endpoint) cannot be reached. */
  readonly unreachable: ReadonlyArray<{ readonly label: string; create(): Promise<{ sql: SqlExecutor; stop(): Promise<void> }> }>;
  /** The service's hard cap on a request, which maxStatementBytes must stay under (none for direct connections). */
  readonly requestLimitBytes?: number;
}

async function migrated(sql: SqlExecutor, cleanup: () => Promise<void>): Promise<Running> {
  let applied: string[];
  try {
    applied = await migrate(sql, loadMigrations());
  } catch (error) {
    // beforeAll failed, so afterAll has nothing to stop: clean up here or the database outlives the run.
    await sql.close().catch(() => {});
    await cleanup().catch(() => {});
    throw error;
  }
  return {
    sql,
    applied,
    async stop() {
      await sql.close();
      await cleanup();
    },
  };
}

const harnesses: Harness[] = [
  {
    name: 'pg',
    async start() {
      const db = await createTestDatabase({ migrate: false });
      return migrated(createPgExecutor({ connectionString: db.url, max: 4 }), () => db.drop());
    },
    unreachable: [
      {
        label: 'Postgres port closed',
        create: async () => {
          const sql = createPgExecutor({
            connectionString: 'postgres://postgres@127.0.0.1:1/none',
            connectionTimeoutMillis: 1000,
          });
          return { sql, stop: () => sql.close() };
        },
      },
    ],
  },
  {
    name: 'pglite',
    async start() {
      return migrated(await createPgliteExecutor({}), async () => {});
    },
    unreachable: [], // in-process: there is no server to lose
  },
  {
    name: 'data-api',
    async start() {
      const db = await createTestDatabase({ migrate: false });
      // One endpoint per run over the shared server; the request's `database` picks this run's database.
      const server = await startDataApiServer({ databaseUrl: ADMIN_DATABASE_URL });
      const client = sdkClient(server.url);
      const sql = createDataApiExecutor({ ...ARNS, database: db.name, client });
      return migrated(sql, async () => {
        client.destroy();
        await server.close();
        await db.drop();
      });
    },
    unreachable: [
      {
        label: 'endpoint port closed',
        create: async () => {
          const client = sdkClient('http://127.0.0.1:1');
          const sql = createDataApiExecutor({ ...ARNS, database: 'none', client });
          return {
            sql,
            async stop() {
              await sql.close();
              client.destroy();
            },
          };
        },
      },
      {
        label: 'endpoint up, Postgres down',
        create: async () => {
          const server = await startDataApiServer({ databaseUrl: 'postgres://postgres@127.0.0.1:1/none' });
          const client = sdkClient(server.url);
          const sql = createDataApiExecutor({ ...ARNS, database: 'none', client });
          return {
            sql,
            async stop() {
              await sql.close();
              client.destroy();
              await server.close();
            },
          };
        },
      },
    ],
    requestLimitBytes: DATA_API_REQUEST_LIMIT_BYTES,
  },
];

// Strings that break naive quoting, escaping, encoding or placeholder parsing.
const TRICKY = [
  'héllo wörld 😀🎉 中文 עברית',
  `it's "quoted" and 'single'`,
  'back\\slash \\n not a newline, \\u0041 not an A',
  "'; DROP TABLE raw_events; --",
  ':not_a_param, ::not_a_cast, $1 not positional',
  'line\nbreak\ttab\r',
  '',
];

const ids = (n: number) => Array.from({ length: n }, () => randomUUID());

describe.each(harnesses)('SqlExecutor contract: $name', (harness) => {
  let running: Running;
  let sql: SqlExecutor;

  beforeAll(async () => {
    running = await harness.start();
    sql = running.sql;
  });
  afterAll(async () => {
    await running?.stop();
  });

  const countRaw = async (eventIds: string[]) => {
    const result = await sql.query<{ n: string }>(
      'SELECT count(*) AS n FROM raw_events WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))',
      { ids: sqlJson(eventIds) },
    );
    return Number(result.rows[0]?.n);
  };

  // A rollback that never happened leaves rows invisible too; an open session shows it.
  const openTransactions = async () => {
    const result = await sql.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    );
    return Number(result.rows[0]?.n);
  };

  it('applies the migrations through the executor once; applying them again is a no-op', async () => {
    // Every migration but the conditional ones (000_from_original, for the original's tables only).
    const unconditional = loadMigrations()
      .filter((migration) => !applyCondition(migration))
      .map((migration) => migration.version)
      .sort();
    expect(unconditional.slice(0, 2)).toEqual(['001_initial', '002_producers']);
    expect(running.applied).toEqual(unconditional);
    expect(await migrate(sql, loadMigrations())).toEqual([]);
    const versions = await sql.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.rows).toEqual(unconditional.map((version) => ({ version })));
  });

  it('round-trips unicode, quotes, backslashes, SQL-looking text, null and nested JSON unchanged', async () => {
    const eventIds = ids(TRICKY.length);
    const occurredAt = new Date('2026-01-02T03:04:05.678Z');
    for (const [i, text] of TRICKY.entries()) {
      const inserted = await sql.query(
        `INSERT INTO processed_events (event_id, event_type, user_id, occurred_at, properties, enriched_data, attempts)
         VALUES (:id, :type, :user, :at, :props, :enriched, :attempts)`,
        {
          id: sqlUuid(eventIds[i] as string),
          type: text,
          user: i % 2 === 0 ? null : text,
          at: occurredAt,
          props: sqlJson({ text, list: [text, null, 1.5, -7, true, { deeper: [text] }], empty: {}, none: null }),
          enriched: sqlJson([text]),
          attempts: i,
        },
      );
      expect(inserted).toEqual({ rows: [], rowCount: 1 });
    }
    const result = await sql.query(
      `SELECT event_type, user_id, occurred_at, properties, enriched_data, attempts
       FROM processed_events WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))
       ORDER BY attempts`,
      { ids: sqlJson(eventIds) },
    );
    expect(result.rowCount).toBe(TRICKY.length);
    expect(result.rows).toEqual(
      TRICKY.map((text, i) => ({
        event_type: text,
        user_id: i % 2 === 0 ? null : text,
        occurred_at: '2026-01-02T03:04:05.678Z',
        properties: { text, list: [text, null, 1.5, -7, true, { deeper: [text] }], empty: {}, none: null },
        enriched_data: [text],
        attempts: i,
      })),
    );
  });

  it('round-trips a ~32 KB JSON payload', async () => {
    const [eventId] = ids(1) as [string];
    const payload = {
      items: Array.from({ length: 450 }, (_, i) => ({ i, text: TRICKY[i % TRICKY.length], flags: [true, false, null] })),
    };
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    expect(bytes).toBeGreaterThan(30_000);
    expect(bytes).toBeLessThan(60_000); // under the Data API's 64 KB per row
    await sql.query('INSERT INTO raw_events (event_id, payload) VALUES (:id, :payload)', {
      id: sqlUuid(eventId),
      payload: sqlJson(payload),
    });
    const result = await sql.query('SELECT payload FROM raw_events WHERE event_id = :id', { id: sqlUuid(eventId) });
    expect(result.rows).toEqual([{ payload }]);
  });

  it('returns timestamps as ISO strings in UTC, int8 and numeric as exact strings, dates as YYYY-MM-DD', async () => {
    const result = await sql.query(
      `SELECT :at::timestamptz AS from_param,
              '2026-01-02 05:04:05.678+02'::timestamptz AS with_offset,
              '2026-01-02 03:04:05.678901'::timestamp AS without_zone,
              '2026-01-02'::date AS day,
              9007199254740993::int8 AS past_2_53,
              (SELECT count(*) FROM schema_migrations WHERE version = '001_initial') AS counted,
              1.50::numeric AS exact,
              42 AS int4,
              0.5::float8 AS float,
              true AS flag,
              NULL::text AS nothing,
              '{"a":[1,{"b":null}]}'::jsonb AS doc,
              'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id`,
      { at: new Date('2026-01-02T03:04:05.678Z') },
    );
    expect(result.rows).toEqual([
      {
        from_param: '2026-01-02T03:04:05.678Z',
        with_offset: '2026-01-02T03:04:05.678Z',
        without_zone: '2026-01-02T03:04:05.678Z',
        day: '2026-01-02',
        past_2_53: '9007199254740993',
        counted: '1',
        exact: '1.50',
        int4: 42,
        float: 0.5,
        flag: true,
        nothing: null,
        doc: { a: [1, { b: null }] },
        id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      },
    ]);
    expect(result.rowCount).toBe(1);
  });

  it('inserts many rows in one statement from jsonb_to_recordset(:rows::jsonb) and returns them', async () => {
    const eventIds = ids(3);
    const rows = eventIds.map((id, i) => ({ event_id: id, payload: { i, text: TRICKY[i] } }));
    const statement = `INSERT INTO raw_events (event_id, payload)
      SELECT r.event_id, r.payload FROM jsonb_to_recordset(:rows::jsonb) AS r(event_id uuid, payload jsonb)
      ON CONFLICT (event_id) DO NOTHING
      RETURNING event_id`;
    const first = await sql.query<{ event_id: string }>(statement, { rows: sqlJson(rows) });
    expect(first.rowCount).toBe(3);
    expect(first.rows.map((row) => row.event_id).sort()).toEqual([...eventIds].sort());

    // Replaying the batch with one new row returns only the new one: what ingest's dedup relies on.
    const [extra] = ids(1) as [string];
    const again = await sql.query<{ event_id: string }>(statement, {
      rows: sqlJson([...rows, { event_id: extra, payload: { i: 3 } }]),
    });
    expect(again).toEqual({ rows: [{ event_id: extra }], rowCount: 1 });
  });

  it('reports the rows an UPDATE or DELETE touched, with no rows returned', async () => {
    const eventIds = ids(3);
    for (const id of eventIds) {
      await sql.query("INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')", { id: sqlUuid(id) });
    }
    const updated = await sql.query(
      "UPDATE raw_events SET outcome = 'processed', outcome_at = now() WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))",
      { ids: sqlJson(eventIds.slice(0, 2)) },
    );
    expect(updated).toEqual({ rows: [], rowCount: 2 });
    const none = await sql.query('DELETE FROM raw_events WHERE event_id = :id', { id: sqlUuid(randomUUID()) });
    expect(none).toEqual({ rows: [], rowCount: 0 });
    const selected = await sql.query('SELECT event_id FROM raw_events WHERE outcome IS NULL AND event_id = :id', {
      id: sqlUuid(eventIds[2] as string),
    });
    expect(selected.rowCount).toBe(1);
  });

  it('binds a named parameter used twice, and leaves :words in literals, comments and casts alone', async () => {
    const result = await sql.query(
      `SELECT :v::text AS a, upper(:v::text) AS b, :n::int + :n::int AS c, ':v' AS literal, '{}'::jsonb AS doc -- :v`,
      { v: "x'; --", n: 2 },
    );
    expect(result.rows).toEqual([{ a: "x'; --", b: "X'; --", c: 4, literal: ':v', doc: {} }]);
  });

  it('rejects a statement whose named parameter was not given', async () => {
    await expect(sql.query('SELECT :a::text AS a, :b::text AS b', { a: 'x' })).rejects.toThrow(/:b\b/);
  });

  it('commits a transaction when the callback resolves, and reads its own writes inside it', async () => {
    const eventIds = ids(2);
    const seenInside = await sql.transaction(async (tx) => {
      for (const id of eventIds) {
        await tx.query("INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')", { id: sqlUuid(id) });
      }
      const inside = await tx.query<{ n: string }>(
        'SELECT count(*) AS n FROM raw_events WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))',
        { ids: sqlJson(eventIds) },
      );
      return inside.rows[0]?.n;
    });
    expect(seenInside).toBe('2');
    expect(await countRaw(eventIds)).toBe(2);
    expect(await openTransactions()).toBe(0);
  });

  it('rolls back everything when the callback throws, and rethrows its error', async () => {
    const eventIds = ids(2);
    const failure = sql.transaction(async (tx) => {
      for (const id of eventIds) {
        await tx.query("INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')", { id: sqlUuid(id) });
      }
      throw new Error('callback failed after two inserts');
    });
    await expect(failure).rejects.toThrow('callback failed after two inserts');
    expect(await countRaw(eventIds)).toBe(0);
    expect(await openTransactions()).toBe(0);
  });

  it('rolls back when a statement inside the transaction fails, surfacing SqlStatementError', async () => {
    const [id] = ids(1) as [string];
    const failure = sql.transaction(async (tx) => {
      await tx.query("INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')", { id: sqlUuid(id) });
      await tx.query("INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')", { id: sqlUuid(id) });
    });
    await expect(failure).rejects.toMatchObject({ name: 'SqlStatementError', code: '23505' });
    expect(await countRaw([id])).toBe(0);
    expect(await openTransactions()).toBe(0);
  });

  it('raises SqlStatementError with the SQLSTATE for statements the database rejects', async () => {
    const cases: Array<[string, string]> = [
      ['SELECT * FROM no_such_table', '42P01'],
      ['SELEC 1', '42601'],
      ["SELECT 'not json'::jsonb", '22P02'],
    ];
    for (const [statement, code] of cases) {
      const error = await sql.query(statement).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(SqlStatementError);
      expect(error).toMatchObject({ code });
      expect(isTransient(error)).toBe(false);
    }
  });

  it('runs concurrent statements without mixing them up', async () => {
    const eventIds = ids(12);
    await Promise.all(
      eventIds.map((id, i) =>
        sql.query('INSERT INTO raw_events (event_id, payload) VALUES (:id, :payload)', {
          id: sqlUuid(id),
          payload: sqlJson({ i }),
        }),
      ),
    );
    const result = await sql.query<{ event_id: string; i: number }>(
      "SELECT event_id, (payload->>'i')::int AS i FROM raw_events WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))",
      { ids: sqlJson(eventIds) },
    );
    expect(new Map(result.rows.map((row) => [row.event_id, row.i]))).toEqual(new Map(eventIds.map((id, i) => [id, i])));
  });

  it('declares a positive maxStatementBytes under the service limit, and a payload that size goes through', async () => {
    expect(sql.maxStatementBytes).toBeGreaterThan(0);
    if (harness.requestLimitBytes) expect(sql.maxStatementBytes).toBeLessThan(harness.requestLimitBytes);
    // Worst case for the Data API: every character escaped twice on the way (JSON value inside JSON request).
    // Direct connections have no such cap; 1 MiB is enough to show large statements pass.
    const target = Math.min(sql.maxStatementBytes, 1024 * 1024) - 100;
    const payload = { s: '"\\'.repeat(Math.floor((target - 10) / 4)) };
    const size = Buffer.byteLength(JSON.stringify(payload));
    expect(size).toBeLessThanOrEqual(sql.maxStatementBytes);
    expect(size).toBeGreaterThan(target - 20);
    const [id] = ids(1) as [string];
    await sql.query('INSERT INTO raw_events (event_id, payload) VALUES (:id, :payload)', {
      id: sqlUuid(id),
      payload: sqlJson(payload),
    });
    const stored = await sql.query("SELECT length(payload->>'s') AS n FROM raw_events WHERE event_id = :id", { id: sqlUuid(id) });
    expect(stored.rows).toEqual([{ n: payload.s.length }]);
  });

  it.runIf(harness.requestLimitBytes !== undefined)(
    'rejects a request over the service limit with a non-transient error (retrying cannot help)',
    async () => {
      const payload = { s: 'x'.repeat((harness.requestLimitBytes ?? 0) + 1024) };
      expect(Buffer.byteLength(JSON.stringify(payload))).toBeGreaterThan(sql.maxStatementBytes);
      const error = await sql
        .query('INSERT INTO raw_events (event_id, payload) VALUES (:id, :payload)', {
          id: sqlUuid(randomUUID()),
          payload: sqlJson(payload),
        })
        .then(
          () => undefined,
          (caught: unknown) => caught,
        );
      expect(error).toBeInstanceOf(SqlStatementError);
      expect(isTransient(error)).toBe(false);
    },
  );

  for (const unreachable of harness.unreachable) {
    it(`fails fast with DependencyUnavailableError when unreachable (${unreachable.label})`, async () => {
      const { sql: down, stop } = await unreachable.create();
      try {
        const started = Date.now();
        await expect(down.query('SELECT 1')).rejects.toBeInstanceOf(DependencyUnavailableError);
        await expect(down.transaction(async (tx) => tx.query('SELECT 1'))).rejects.toMatchObject({
          name: 'DependencyUnavailableError',
          dependency: 'database',
          retryable: true,
        });
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await stop();
      }
    });
  }
});

describe('data-api adapter: service errors are classified', () => {
  // A stand-in for the AWS side only (the local endpoint cannot make Aurora "resume"): it answers every
  // call with one error, and the real SDK parses it as it would parse the service's answer.
  let answer: { status: number; type?: string; message: string };
  let url: string;
  const server = createServer((request, response) => {
    request.resume().on('end', () => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (answer.type) headers['x-amzn-errortype'] = answer.type;
      response.writeHead(answer.status, headers).end(JSON.stringify({ message: answer.message }));
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([
    [400, 'DatabaseResumingException', 'The database is resuming', 'DependencyUnavailableError', undefined],
    [503, 'ServiceUnavailableError', 'Service unavailable', 'DependencyUnavailableError', undefined],
    [504, 'DatabaseUnavailableException', 'Writer unavailable', 'DependencyUnavailableError', undefined],
    [400, 'ThrottlingException', 'Rate exceeded', 'DependencyUnavailableError', undefined],
    [429, 'TooManyRequestsException', 'Too many requests', 'DependencyUnavailableError', undefined],
    [400, 'StatementTimeoutException', 'Statement timed out', 'DependencyUnavailableError', undefined],
    [400, 'DatabaseErrorException', 'ERROR: deadlock detected; SQLState: 40P01', 'DependencyUnavailableError', undefined],
    [400, 'DatabaseErrorException', 'ERROR: duplicate key value; SQLState: 23505', 'SqlStatementError', '23505'],
    [400, 'BadRequestException', 'ERROR: syntax error at or near "SELEC"; SQLState: 42601', 'SqlStatementError', '42601'],
    [413, undefined, 'Request Entity Too Large', 'SqlStatementError', undefined],
  ])('HTTP %i %s (%s) → %s', async (status, type, message, expected, code) => {
    answer = { status, ...(type ? { type } : {}), message };
    const client = sdkClient(url, 1); // one attempt: the SDK's own retries are not under test
    const sql = createDataApiExecutor({ ...ARNS, database: 'any', client });
    try {
      const error = await sql.query('SELECT 1').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ name: expected });
      if (expected === 'DependencyUnavailableError') expect(error).toMatchObject({ dependency: 'database' });
      if (code) expect(error).toMatchObject({ code });
      expect(isTransient(error)).toBe(expected === 'DependencyUnavailableError');
    } finally {
      client.destroy();
    }
  });

  it('does not retry DatabaseResumingException itself: one call, one classified error', async () => {
    let calls = 0;
    const counting = createServer((request, response) => {
      calls++;
      request.resume().on('end', () => {
        response
          .writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'DatabaseResumingException' })
          .end(JSON.stringify({ message: 'resuming' }));
      });
    });
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', () => resolve()));
    const client = sdkClient(`http://127.0.0.1:${(counting.address() as AddressInfo).port}`);
    try {
      const sql = createDataApiExecutor({ ...ARNS, database: 'any', client });
      await expect(sql.query('SELECT 1')).rejects.toMatchObject({ name: 'DependencyUnavailableError', resuming: true });
      expect(calls).toBe(1);
    } finally {
      client.destroy();
      await new Promise<void>((resolve) => counting.close(() => resolve()));
    }
  });
});

describe('pglite adapter: dataDir', () => {
  it('persists the database in the folder across close and reopen', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'eventflow-pglite-'));
    try {
      const [id] = ids(1) as [string];
      const first = await createPgliteExecutor({ dataDir });
      await migrate(first, loadMigrations());
      await first.query('INSERT INTO raw_events (event_id, payload) VALUES (:id, \'{"kept":true}\')', { id: sqlUuid(id) });
      await first.close();
      const reopened = await createPgliteExecutor({ dataDir });
      try {
        expect(await migrate(reopened, loadMigrations())).toEqual([]);
        const result = await reopened.query('SELECT payload FROM raw_events WHERE event_id = :id', { id: sqlUuid(id) });
        expect(result.rows).toEqual([{ payload: { kept: true } }]);
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('local Data API endpoint: behaves like the service where our code depends on it', () => {
  let db: TestDatabase;
  let server: Awaited<ReturnType<typeof startDataApiServer>>;
  let client: RDSDataClient;
  const target = () => ({ ...ARNS, database: db.name });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startDataApiServer({ databaseUrl: ADMIN_DATABASE_URL });
    client = sdkClient(server.url, 1);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.close();
    await db?.drop();
  });

  it('binds a plain stringValue as varchar, so a uuid column needs the UUID typeHint', async () => {
    const sql = "INSERT INTO raw_events (event_id, payload) VALUES (:id, '{}')";
    const id = { name: 'id', value: { stringValue: randomUUID() } };
    const error = await failure(client.send(new ExecuteStatementCommand({ ...target(), sql, parameters: [id] })));
    expect(error).toMatchObject({ name: 'DatabaseErrorException', message: expect.stringMatching(/SQLState: 42804/) });
    const ok = await client.send(new ExecuteStatementCommand({ ...target(), sql, parameters: [{ ...id, typeHint: 'UUID' }] }));
    expect(ok.numberOfRecordsUpdated).toBe(1);
  });

  it("accepts TIMESTAMP values only as 'YYYY-MM-DD HH:MM:SS[.fff]'", async () => {
    const sql = 'SELECT :t::timestamptz AS t';
    const iso = { name: 't', value: { stringValue: '2026-01-02T03:04:05.678Z' }, typeHint: 'TIMESTAMP' as const };
    expect(await failure(client.send(new ExecuteStatementCommand({ ...target(), sql, parameters: [iso] })))).toMatchObject({
      name: 'BadRequestException',
    });
    const service = { ...iso, value: { stringValue: '2026-01-02 03:04:05.678' } };
    const result = await client.send(
      new ExecuteStatementCommand({ ...target(), sql, parameters: [service], formatRecordsAs: 'JSON' }),
    );
    expect(JSON.parse(result.formattedRecords ?? '')).toEqual([{ t: '2026-01-02 03:04:05.678' }]);
  });

  it('returns Field unions without formatRecordsAs, int8 as longValue, and column metadata on request', async () => {
    const result = await client.send(
      new ExecuteStatementCommand({
        ...target(),
        sql: "SELECT 7::int8 AS n, 'x' AS s, NULL::text AS nothing, true AS flag, '2026-01-02 03:04:05+00'::timestamptz AS t",
        includeResultMetadata: true,
      }),
    );
    expect(result.records).toEqual([
      [
        { longValue: 7 },
        { stringValue: 'x' },
        { isNull: true },
        { booleanValue: true },
        { stringValue: '2026-01-02 03:04:05.000' },
      ],
    ]);
    expect(result.columnMetadata?.map((column) => column.typeName)).toEqual(['int8', 'text', 'text', 'bool', 'timestamptz']);
  });

  it('answers an unknown transaction id with TransactionNotFoundException', async () => {
    const error = await failure(client.send(new CommitTransactionCommand({ ...ARNS, transactionId: 'no-such-transaction' })));
    expect(error).toMatchObject({ name: 'TransactionNotFoundException' });
  });

  it('applies every parameter set of a BatchExecute', async () => {
    const eventIds = ids(3);
    const result = await client.send(
      new BatchExecuteStatementCommand({
        ...target(),
        sql: 'INSERT INTO raw_events (event_id, payload) VALUES (:id, :payload)',
        parameterSets: eventIds.map((id, i) => [
          { name: 'id', value: { stringValue: id }, typeHint: 'UUID' },
          { name: 'payload', value: { stringValue: JSON.stringify({ i }) }, typeHint: 'JSON' },
        ]),
      }),
    );
    expect(result.updateResults).toHaveLength(3);
    const count = await client.send(
      new ExecuteStatementCommand({
        ...target(),
        sql: 'SELECT count(*) AS n FROM raw_events WHERE event_id IN (SELECT value::uuid FROM jsonb_array_elements_text(:ids::jsonb))',
        parameters: [{ name: 'ids', value: { stringValue: JSON.stringify(eventIds) }, typeHint: 'JSON' }],
        formatRecordsAs: 'JSON',
      }),
    );
    expect(JSON.parse(count.formattedRecords ?? '')).toEqual([{ n: 3 }]);
  });
});
