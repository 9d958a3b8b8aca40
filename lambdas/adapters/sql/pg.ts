// SqlExecutor over node-postgres: direct connections (local Postgres, RDS Proxy in a VPC).
// Never leaks pg types: rows follow the SqlRow shapes, errors are classified.
import pg from 'pg';
import type { SqlExecutor, SqlParams, SqlResult, SqlRow } from '../../ports.ts';
import { toPositional } from '../../sql-text.ts';
import { classifyPgError } from './classify-pg.ts';
import { normalizeRow, positionalValues } from './values.ts';

const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;
const DATE = 1082;

// Timestamps as ISO strings in UTC (timestamp without time zone is taken as UTC), dates as text.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ) return (value: string) => new Date(value).toISOString();
    if (oid === TIMESTAMP) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`).toISOString();
    if (oid === DATE) return (value: string) => value;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export interface PgExecutorOptions {
  readonly connectionString: string;
  /** Pool size; Lambda wants 1–2, the local server more. */
  readonly max?: number;
  readonly connectionTimeoutMillis?: number;
  /** Statement timeout, so a stuck query cannot outlive the Lambda. */
  readonly statementTimeoutMs?: number;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

async function run<Row extends SqlRow>(client: Queryable, sql: string, params?: SqlParams): Promise<SqlResult<Row>> {
  const { text, names } = toPositional(sql);
  const values = positionalValues(names, params);
  try {
    const result = await client.query({ text, values, types } as pg.QueryConfig);
    return { rows: result.rows.map(normalizeRow) as Row[], rowCount: result.rowCount ?? result.rows.length };
  } catch (error) {
    throw classifyPgError(error);
  }
}

export function createPgExecutor(options: PgExecutorOptions): SqlExecutor {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 5,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000,
    statement_timeout: options.statementTimeoutMs ?? 25_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return {
    maxStatementBytes: 64 * 1024 * 1024,
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw classifyPgError(error);
      }
      let broken = false;
      try {
        await run(client, 'BEGIN');
        const result = await fn({ query: (sql, params) => run(client, sql, params) });
        await run(client, 'COMMIT');
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        // Statements were classified by run(); the caller's own errors pass through unchanged.
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
