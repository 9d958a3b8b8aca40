// Isolation for integration tests: each test file gets its own Postgres database and its own
// stream keys on the real local services, and drops them afterwards (tests run in parallel and twice).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { migrate } from '../../lambdas/core/migrations.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A short unique name for keys, databases and consumers. */
export const uniqueName = (prefix: string): string => `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database (optionally migrated) on the local Postgres. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName('ef_test');
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(ADMIN_DATABASE_URL, name);
  if (options.migrate !== false) {
    const sql = createPgExecutor({ connectionString: url, max: 1 });
    try {
      await migrate(sql, loadMigrations());
    } finally {
      await sql.close();
    }
  }
  return {
    url,
    name,
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Counts rows of a table, optionally filtered by a WHERE clause. */
export async function countRows(sql: SqlExecutor, table: string, where = 'true', params = {}): Promise<number> {
  const result = await sql.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE ${where}`, params);
  return Number(result.rows[0]?.n ?? 0);
}

/** Deletes a stream key and its `:errors` hash from the local Redis. */
export async function deleteStreamKeys(streamKey: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    await redis.del(streamKey, `${streamKey}:errors`);
  } finally {
    redis.disconnect();
  }
}
