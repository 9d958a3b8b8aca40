// SqlExecutor over node-postgres: direct connections (local Postgres, RDS Proxy in a VPC).
// Never leaks pg types: rows follow the SqlRow shapes, errors are classified.
import pg from 'pg';
import type { SqlExecutor, SqlParams, SqlResult, SqlRow } from '../../ports.ts';
import { toPositional } from '../../shared/sql-text.ts';
import { callTimeoutMs, withCallTimeout } from '../deadline.ts';
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

/** A call's time when no invocation deadline is nearer: the server's statement timeout and some. */
const callCapMs = (statementTimeoutMs: number) => statementTimeoutMs + 5000;

async function run<Row extends SqlRow>(
  client: Queryable,
  capMs: number,
  sql: string,
  params?: SqlParams,
): Promise<SqlResult<Row>> {
  const { text, names } = toPositional(sql);
  const values = positionalValues(names, params);
  try {
    // Bounded by the cap or the invocation's deadline (lambdas/adapters/deadline.ts), waiting for a pooled
    // connection included. query_timeout makes pg drop a connection whose answer is late, so the
    // pool never hands out a client still busy with a timed-out statement.
    const timeoutMs = callTimeoutMs(capMs);
    const result = await withCallTimeout(timeoutMs, () =>
      client.query({ text, values, types, query_timeout: timeoutMs } as pg.QueryConfig),
    );
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
  const capMs = callCapMs(options.statementTimeoutMs ?? 25_000);
  return {
    maxStatementBytes: 64 * 1024 * 1024,
    query: (sql, params) => run(pool, capMs, sql, params),
    async transaction(fn) {
      let client: pg.PoolClient;
      const connecting = pool.connect();
      try {
        client = await withCallTimeout(capMs, () => connecting);
      } catch (error) {
        // A connection that arrives after the deadline goes back to the pool unused.
        connecting.then(
          (late) => late.release(),
          () => {}, // the failure was already reported above
        );
        throw classifyPgError(error);
      }
      let broken = false;
      try {
        await run(client, capMs, 'BEGIN');
        const result = await fn({ query: (sql, params) => run(client, capMs, sql, params) });
        await run(client, capMs, 'COMMIT');
        return result;
      } catch (error) {
        try {
          await run(client, capMs, 'ROLLBACK');
        } catch {
          // No answer to ROLLBACK: the connection is destroyed, which ends the transaction server-side.
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
