// SqlExecutor over the RDS Data API (HTTPS to Aurora, no VPC connection to hold): the Lambda adapter.
// Never leaks SDK types: rows follow the SqlRow shapes of the pg adapter, errors are classified, no retries here.
import {
  BeginTransactionCommand,
  type ColumnMetadata,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import { DependencyUnavailableError, SqlStatementError } from '../../errors.ts';
import type { SqlExecutor, SqlParam, SqlParams, SqlResult, SqlRow } from '../../ports.ts';
import { toPositional } from '../../shared/sql-text.ts';
import { callSignal } from '../deadline.ts';
import { messageOf, transportFailure } from '../transport-failure.ts';
import { classifyPgError } from './classify-pg.ts';
import { positionalValues } from './values.ts';

export interface DataApiExecutorOptions {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
  /** A local Data API endpoint (scripts/local-endpoints/data-api.ts); unset means the regional AWS one. */
  readonly endpoint?: string;
  readonly region?: string;
  /** A client to use instead of building one (tests, custom credentials). It is not destroyed on close. */
  readonly client?: RDSDataClient;
}

/**
 * "The maximum size of the HTTP request submitted through the Data API is 4 MiB … includes the size of the
 * HTTP headers and the JSON notation" (BatchExecuteStatement API reference); responses are capped at 1 MiB
 * and 64 KB per row (Aurora User Guide, "Limitations for the Amazon RDS Data API"). A JSON parameter
 * travels as a string inside the request's JSON, where escaping can double it (every `"` becomes `\"`),
 * so 1 MiB of parameter JSON stays under 4 MiB with room for the SQL text and headers.
 */
export const DATA_API_MAX_STATEMENT_BYTES = 1024 * 1024;
export const DATA_API_REQUEST_LIMIT_BYTES = 4 * 1024 * 1024;
/** A statement may run up to 45 s synchronously on the service; a call may outlast it a little, no more. */
export const DATA_API_CALL_CAP_MS = 50_000;

// Statement errors carry the SQLSTATE in the message ("ERROR: … ; SQLState: 42P01").
const SQL_STATE = /SQLState:\s*([0-9A-Z]{5})/;

/**
 * The Data API's answers in EventFlow's error types. A statement error is decided by its SQLSTATE
 * (the rules of pg/PGlite); anything the shared transport test recognises (throttling, timeouts,
 * 5xx, Aurora resuming, sockets) is DependencyUnavailableError; an oversized request is permanent.
 */
export function classifyDataApiError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError || error instanceof SqlStatementError) return error;
  const err = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = typeof err?.name === 'string' ? err.name : '';
  const message = messageOf(error);
  if (err?.$metadata?.httpStatusCode === 413) {
    // Over the 4 MiB request cap: the same statement will never fit, so not worth a retry.
    return new SqlStatementError(`request too large for the Data API: ${message}`, undefined, { cause: error });
  }
  if (name === 'DatabaseErrorException' || name === 'BadRequestException') {
    const code = SQL_STATE.exec(message)?.[1];
    if (code) return classifyPgError(Object.assign(new Error(message, { cause: error }), { code }));
  }
  const failure = transportFailure(error);
  if (failure) {
    return new DependencyUnavailableError('database', `database unavailable: ${name || 'Error'}: ${message}`, {
      cause: error,
      resuming: failure.resuming,
    });
  }
  if (name === 'DatabaseErrorException' || name === 'BadRequestException') {
    return new SqlStatementError(message, undefined, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' in UTC: the only TIMESTAMP text the Data API accepts. */
function serviceTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function toParameter(name: string, value: SqlParam): SqlParameter {
  if (value === null) return { name, value: { isNull: true } };
  if (value instanceof Date) return { name, value: { stringValue: serviceTimestamp(value) }, typeHint: 'TIMESTAMP' };
  switch (typeof value) {
    case 'string':
      return { name, value: { stringValue: value } };
    case 'boolean':
      return { name, value: { booleanValue: value } };
    case 'number':
      return { name, value: Number.isSafeInteger(value) ? { longValue: value } : { doubleValue: value } };
  }
  if ('json' in value) return { name, value: { stringValue: JSON.stringify(value.json) }, typeHint: 'JSON' };
  return { name, value: { stringValue: value.uuid }, typeHint: 'UUID' };
}

/** Data API timestamps: 'YYYY-MM-DD HH:MM:SS[.fff…]', UTC, no zone for timestamptz. */
function isoTimestamp(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const match = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d(?::?\d\d)?)?$/.exec(value);
  if (!match) return value; // 'infinity' and friends pass through
  const [, day, time, fraction = '', zone] = match;
  const offset = !zone || zone === 'Z' ? 'Z' : zone.length === 3 ? `${zone}:00` : zone.replace(/(\d\d)(\d\d)$/, '$1:$2');
  const date = new Date(`${day}T${time}.${fraction.padEnd(3, '0').slice(0, 3)}${offset}`);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

/**
 * JSON.parse turns integers past 2^53 into rounded numbers before we can see the column type, so
 * integer literals too long to be exact are quoted first (only outside strings: column values are
 * top-level; jsonb arrives as a string and is parsed on its own).
 */
function parseRecords(text: string): Record<string, unknown>[] {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
      const token = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))?.[0] ?? ch;
      if (/^-?\d{16,}$/.test(token)) {
        out += `${text.slice(last, i)}"${token}"`;
        last = i + token.length;
      }
      i += token.length - 1;
    }
  }
  return JSON.parse(out + text.slice(last)) as Record<string, unknown>[];
}

const INT8_TYPES = new Set(['int8', 'bigint', 'bigserial', 'serial8', 'oid']);
const DECIMAL_TYPES = new Set(['numeric', 'decimal', 'money']);
const FLOAT_TYPES = new Set(['float4', 'float8', 'real', 'double precision']);
const JSON_TYPES = new Set(['json', 'jsonb']);
const TIMESTAMP_TYPES = new Set(['timestamptz', 'timestamp', 'timestamp with time zone', 'timestamp without time zone']);

function toSqlValue(value: unknown, typeName: string | undefined): unknown {
  if (value === null || value === undefined) return null;
  const type = typeName?.toLowerCase() ?? '';
  if (INT8_TYPES.has(type) || DECIMAL_TYPES.has(type)) return String(value);
  if (FLOAT_TYPES.has(type)) return typeof value === 'string' ? Number(value) : value;
  if (JSON_TYPES.has(type)) return typeof value === 'string' ? JSON.parse(value) : value;
  if (TIMESTAMP_TYPES.has(type)) return isoTimestamp(value);
  return value;
}

function toResult<Row extends SqlRow>(output: ExecuteStatementCommandOutput): SqlResult<Row> {
  const types = new Map<string, string | undefined>();
  for (const column of output.columnMetadata ?? ([] as ColumnMetadata[])) {
    types.set(column.label ?? column.name ?? '', column.typeName);
  }
  const records = output.formattedRecords ? parseRecords(output.formattedRecords) : [];
  const rows = records.map((record) => {
    const row: SqlRow = {};
    for (const [key, value] of Object.entries(record)) row[key] = toSqlValue(value, types.get(key));
    return row as Row;
  });
  // DML without RETURNING has no records, only numberOfRecordsUpdated; a SELECT reports 0 updated.
  return { rows, rowCount: Math.max(rows.length, output.numberOfRecordsUpdated ?? 0) };
}

export function createDataApiExecutor(options: DataApiExecutorOptions): SqlExecutor {
  const client =
    options.client ??
    new RDSDataClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // An endpoint that never answers the connect must fail fast; the answer is bounded per call below.
      requestHandler: { connectionTimeout: 3000, requestTimeout: DATA_API_CALL_CAP_MS },
    });
  // Each call ends by its cap or the invocation's deadline (lambdas/adapters/deadline.ts), whichever comes
  // first: the abort also stops the SDK's retries, and is classified as the database being unavailable.
  const bounded = () => ({ abortSignal: callSignal(DATA_API_CALL_CAP_MS) });
  const target = { resourceArn: options.resourceArn, secretArn: options.secretArn };

  /** Every SDK call goes through here, so every failure leaves the adapter classified. */
  async function call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw classifyDataApiError(error);
    }
  }

  async function run<Row extends SqlRow>(sql: string, params: SqlParams | undefined, transactionId?: string) {
    const { names } = toPositional(sql);
    positionalValues(names, params); // fails on a missing parameter the same way the other adapters do
    // Only the names the statement uses are sent: smaller requests, and no "unused parameter" surprises.
    const parameters = names.map((name) => toParameter(name, (params as SqlParams)[name] as SqlParam));
    const output = await call(() =>
      client.send(
        new ExecuteStatementCommand({
          ...target,
          database: options.database,
          sql,
          parameters,
          ...(transactionId ? { transactionId } : {}),
          includeResultMetadata: true,
          formatRecordsAs: 'JSON',
        }),
        bounded(),
      ),
    );
    return toResult<Row>(output);
  }

  return {
    maxStatementBytes: DATA_API_MAX_STATEMENT_BYTES,
    query: (sql, params) => run(sql, params),
    async transaction(fn) {
      const { transactionId } = await call(() =>
        client.send(new BeginTransactionCommand({ ...target, database: options.database }), bounded()),
      );
      if (!transactionId) throw new DependencyUnavailableError('database', 'BeginTransaction returned no transaction id');
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn({ query: (sql, params) => run(sql, params, transactionId) });
      } catch (error) {
        // The callback's error wins; a failed rollback only means the service will time the transaction out.
        await call(() => client.send(new RollbackTransactionCommand({ ...target, transactionId }), bounded())).catch(() => {});
        throw error;
      }
      try {
        await call(() => client.send(new CommitTransactionCommand({ ...target, transactionId }), bounded()));
      } catch (error) {
        // Whether a failed commit left the transaction open is unknown: ask for a rollback to be sure.
        await call(() => client.send(new RollbackTransactionCommand({ ...target, transactionId }), bounded())).catch(() => {});
        throw error;
      }
      return result;
    },
    async close() {
      if (!options.client) client.destroy();
    },
  };
}
