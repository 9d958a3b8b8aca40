// SqlExecutor over PGlite (Postgres in WASM, in-process): local runs and tests without a server.
// Never leaks PGlite types: rows follow the SqlRow shapes of the pg adapter, errors are classified.
// Types only at the top: the module itself is loaded inside createPgliteExecutor, so Lambda bundles
// (where PGlite is external and absent) never import it; a static import would be hoisted there.
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { SqlExecutor, SqlParams, SqlResult, SqlRow } from '../../ports.ts';
import { toPositional } from '../../shared/sql-text.ts';
import { classifyPgError } from './classify-pg.ts';
import { normalizeRow, positionalValues } from './values.ts';

export interface PgliteExecutorOptions {
  /** Folder the database persists in; undefined keeps it in memory (gone on close). */
  readonly dataDir?: string;
}

const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

// PGlite's defaults differ from the pg adapter's (int8 → number, which loses precision past 2^53;
// timestamps → Date; dates → Date at local midnight), so its text values are parsed here the same way.
const parsers = {
  [INT8]: (value: string) => value,
  [NUMERIC]: (value: string) => value,
  [DATE]: (value: string) => value,
  [TIMESTAMPTZ]: (value: string) => new Date(value).toISOString(),
  [TIMESTAMP]: (value: string) => new Date(`${value.replace(' ', 'T')}Z`).toISOString(),
};

type Queryable = Pick<PGlite, 'query'> | Transaction;

async function run<Row extends SqlRow>(db: Queryable, sql: string, params?: SqlParams): Promise<SqlResult<Row>> {
  const { text, names } = toPositional(sql);
  const values = positionalValues(names, params);
  try {
    const result = await db.query<Record<string, unknown>>(text, values, { parsers });
    const rows = result.rows.map(normalizeRow) as Row[];
    // rowCount comes from the command tag (per statement); affectedRows is only set for DML.
    return { rows, rowCount: result.rowCount ?? result.affectedRows ?? rows.length };
  } catch (error) {
    throw classifyPgError(error);
  }
}

export async function createPgliteExecutor(options: PgliteExecutorOptions = {}): Promise<SqlExecutor> {
  let db: PGlite;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    db = await PGlite.create(options.dataDir);
    // UTC like Aurora's Data API sessions, so now()::date and timestamp casts agree with production.
    await db.exec("SET TimeZone = 'UTC'");
  } catch (error) {
    throw classifyPgError(error);
  }
  return {
    // In-process: no request size limit beyond memory; same bound as the pg adapter.
    maxStatementBytes: 64 * 1024 * 1024,
    query: (sql, params) => run(db, sql, params),
    async transaction(fn) {
      // The callback's own error is rethrown as it is (callers may match on its type); only
      // PGlite's BEGIN/COMMIT failures need classifying.
      let callbackError: unknown;
      try {
        // PGlite issues BEGIN/COMMIT and rolls back when the callback throws; its mutex keeps
        // other queries on this instance out of the transaction meanwhile.
        return await db.transaction(async (tx) => {
          try {
            return await fn({ query: (sql, params) => run(tx, sql, params) });
          } catch (error) {
            callbackError = error;
            throw error;
          }
        });
      } catch (error) {
        if (error === callbackError) throw error;
        throw classifyPgError(error);
      }
    },
    close: () => db.close(),
  };
}
