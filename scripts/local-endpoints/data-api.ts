// RDS-Data-API-compatible HTTP endpoint over a real Postgres, so @aws-sdk/client-rds-data runs offline and in tests.
// Dev tooling only: lambdas/ never import it, it checks no credentials, and it must never face a network in earnest.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { ENV } from '../../lambdas/config/keys.ts';
import { redactCredentials } from '../../lambdas/observability/logger.ts';
import { toPositional } from '../../lambdas/shared/sql-text.ts';
import { listen } from './listen.ts';

export interface DataApiServerOptions {
  /** Postgres to run statements on; a request's `database` replaces the database in this URL. */
  readonly databaseUrl: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
}

export interface DataApiServer {
  readonly url: string;
  close(): Promise<void>;
}

/** An error the endpoint answers with `x-amzn-errortype: type` and this HTTP status (the SDK's model). */
class DataApiError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new DataApiError('BadRequestException', 400, message);

// The service refuses requests over 4 MiB (BatchExecuteStatement API reference); mirroring it lets
// tests see what production would do with an oversized batch.
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const MAX_RESULT_BYTES = 1024 * 1024;
// "A transaction times out if there are no calls that use its transaction ID in three minutes."
const TRANSACTION_IDLE_MS = 3 * 60 * 1000;

// Parameter types as JDBC (behind the real service) binds them: a plain stringValue is varchar, so a
// string sent to a uuid/jsonb/timestamptz column fails here as it does on Aurora unless it has a typeHint.
const OID = {
  unknown: 0,
  bool: 16,
  bytea: 17,
  int8: 20,
  jsonb: 3802,
  float8: 701,
  varchar: 1043,
  numeric: 1700,
  uuid: 2950,
  date: 1082,
  time: 1083,
  timestamp: 1114,
};
const HINTS: Record<string, { oid: number; format?: RegExp }> = {
  JSON: { oid: OID.jsonb },
  UUID: { oid: OID.uuid },
  DECIMAL: { oid: OID.numeric },
  TIMESTAMP: { oid: OID.timestamp, format: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})?$/ },
  DATE: { oid: OID.date, format: /^\d{4}-\d\d-\d\d$/ },
  TIME: { oid: OID.time, format: /^\d\d:\d\d:\d\d(\.\d{1,9})?$/ },
};

// Result column types: [typeName as JDBC reports it, java.sql.Types code]. Others are looked up in pg_type.
const COLUMN_TYPES: Record<number, [string, number]> = {
  16: ['bool', -7],
  17: ['bytea', -2],
  18: ['char', 1],
  19: ['name', 12],
  20: ['int8', -5],
  21: ['int2', 5],
  23: ['int4', 4],
  25: ['text', 12],
  26: ['oid', -5],
  114: ['json', 1111],
  700: ['float4', 7],
  701: ['float8', 8],
  1042: ['bpchar', 1],
  1043: ['varchar', 12],
  1082: ['date', 91],
  1083: ['time', 92],
  1114: ['timestamp', 93],
  1184: ['timestamptz', 93],
  1186: ['interval', 1111],
  1700: ['numeric', 2],
  2950: ['uuid', 1111],
  3802: ['jsonb', 1111],
};
const INTEGER_OIDS = new Set([20, 21, 23, 26]);
const FLOAT_OIDS = new Set([700, 701]);

// Every column arrives as Postgres' text form; values are rendered below the way the service renders them.
const rawText = { getTypeParser: () => (value: string) => value };

interface Field {
  stringValue?: string;
  longValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  blobValue?: string;
  isNull?: boolean;
  arrayValue?: unknown;
}
interface SqlParameter {
  name?: string;
  value?: Field;
  typeHint?: string;
}
interface Transaction {
  readonly client: pg.PoolClient;
  timer: NodeJS.Timeout;
}

function bind(parameter: SqlParameter): { value: unknown; oid: number } {
  const field = parameter.value ?? {};
  if (field.isNull) return { value: null, oid: OID.unknown };
  if (field.stringValue !== undefined) {
    if (!parameter.typeHint) return { value: field.stringValue, oid: OID.varchar };
    const hint = HINTS[parameter.typeHint];
    if (!hint) throw badRequest(`Invalid typeHint ${parameter.typeHint}`);
    if (hint.format && !hint.format.test(field.stringValue)) {
      throw badRequest(`Invalid ${parameter.typeHint} value for parameter ${parameter.name}: ${field.stringValue}`);
    }
    return { value: field.stringValue, oid: hint.oid };
  }
  if (field.longValue !== undefined) return { value: String(field.longValue), oid: OID.int8 };
  if (field.doubleValue !== undefined) return { value: String(field.doubleValue), oid: OID.float8 };
  if (field.booleanValue !== undefined) return { value: field.booleanValue, oid: OID.bool };
  if (field.blobValue !== undefined) return { value: Buffer.from(field.blobValue, 'base64'), oid: OID.bytea };
  throw badRequest(`Unsupported value for parameter ${parameter.name}`);
}

/** '2026-01-02 03:04:05.678901+00' → '2026-01-02 03:04:05.678' (the session is UTC; the service drops the zone). */
function serviceTimestamp(text: string): string {
  const match = /^(\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))?(?:[+-]\d\d(?::\d\d){0,2})?$/.exec(text);
  if (!match) return text; // infinity, BC dates
  return `${match[1]}.${(match[2] ?? '').padEnd(3, '0').slice(0, 3)}`;
}

/** One value as a JSON literal; integers keep their digits (int8 past 2^53 must not round here). */
function jsonLiteral(oid: number, text: string | null, asField: boolean): string {
  const wrap = (key: string, literal: string) => (asField ? `{"${key}":${literal}}` : literal);
  if (text === null) return asField ? '{"isNull":true}' : 'null';
  if (INTEGER_OIDS.has(oid)) return wrap('longValue', text);
  if (FLOAT_OIDS.has(oid) && Number.isFinite(Number(text))) return wrap('doubleValue', text);
  if (oid === OID.bool) return wrap('booleanValue', text === 't' ? 'true' : 'false');
  if (oid === OID.bytea)
    return wrap(asField ? 'blobValue' : 'stringValue', JSON.stringify(Buffer.from(text.slice(2), 'hex').toString('base64')));
  const string = oid === 1114 || oid === 1184 ? serviceTimestamp(text) : text;
  return wrap('stringValue', JSON.stringify(string));
}

function sqlError(error: unknown): DataApiError {
  const err = error as { code?: unknown; message?: unknown };
  const message = typeof err?.message === 'string' ? err.message : String(error);
  const code = typeof err?.code === 'string' ? err.code : '';
  if (code === '3D000') return new DataApiError('DatabaseNotFoundException', 404, message);
  // A SQLSTATE means Postgres answered; its text follows what the service relays from JDBC.
  if (/^[0-9A-Z]{5}$/.test(code) && !/^(08|57P0[123])/.test(code)) {
    return new DataApiError('DatabaseErrorException', 400, `ERROR: ${message}; SQLState: ${code}`);
  }
  return new DataApiError('ServiceUnavailableError', 503, `Database unavailable: ${message}`);
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Past the limit the rest is read and dropped, so the client gets the answer instead of a reset socket.
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  }
  if (size > MAX_REQUEST_BYTES) throw new DataApiError('BadRequestException', 413, 'Request size exceeds the 4 MiB limit');
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {}
  throw badRequest('Request body is not a JSON object');
}

export async function startDataApiServer(options: DataApiServerOptions): Promise<DataApiServer> {
  const { host = '127.0.0.1' } = options;
  const pools = new Map<string, pg.Pool>();
  const transactions = new Map<string, Transaction>();
  const typeNames = new Map<number, string>();

  function pool(database: unknown): pg.Pool {
    const url = new URL(options.databaseUrl);
    if (typeof database === 'string' && database) url.pathname = `/${database}`;
    const key = url.toString();
    let found = pools.get(key);
    if (!found) {
      // Aurora's Data API sessions run in UTC; timestamps are rendered from that session's text.
      found = new pg.Pool({ connectionString: key, max: 10, connectionTimeoutMillis: 3000, options: '-c TimeZone=UTC' });
      found.on('error', () => {}); // a dropped idle client is reported by the next request
      pools.set(key, found);
    }
    return found;
  }

  async function connect(database: unknown): Promise<pg.PoolClient> {
    try {
      const client = await pool(database).connect();
      // A checked-out client (a transaction between requests) whose connection drops emits 'error' on
      // itself, not on the pool; unheard, it would crash the endpoint. The next query reports the loss.
      if (client.listenerCount('error') === 0) client.on('error', () => {});
      return client;
    } catch (error) {
      throw sqlError(error);
    }
  }

  function transaction(id: unknown): Transaction {
    const found = typeof id === 'string' ? transactions.get(id) : undefined;
    if (!found) throw new DataApiError('TransactionNotFoundException', 404, `Transaction ${String(id)} is not found`);
    found.timer.refresh();
    return found;
  }

  async function end(id: string, command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    const { client, timer } = transaction(id);
    transactions.delete(id);
    clearTimeout(timer);
    let broken = false;
    try {
      const result = await client.query(command);
      // Postgres answers COMMIT of a failed transaction with ROLLBACK; JDBC (and so the service) raises it.
      if (command === 'COMMIT' && result.command === 'ROLLBACK') {
        throw new DataApiError(
          'DatabaseErrorException',
          400,
          'ERROR: The database returned ROLLBACK, so the transaction cannot be committed; SQLState: 40P02',
        );
      }
    } catch (error) {
      broken = !(error instanceof DataApiError);
      throw error instanceof DataApiError ? error : sqlError(error);
    } finally {
      client.release(broken);
    }
  }

  async function typeName(client: pg.PoolClient, oid: number): Promise<string> {
    const known = COLUMN_TYPES[oid]?.[0] ?? typeNames.get(oid);
    if (known) return known;
    const result = await client.query<{ typname: string }>('SELECT typname FROM pg_type WHERE oid = $1', [oid]);
    const name = result.rows[0]?.typname ?? 'unknown';
    typeNames.set(oid, name);
    return name;
  }

  async function execute(client: pg.PoolClient, body: Record<string, unknown>, parameters: SqlParameter[]) {
    if (typeof body.sql !== 'string' || !body.sql.trim()) throw badRequest('sql is required');
    const { text, names } = toPositional(body.sql);
    const bound = names.map((name) => {
      const parameter = parameters.find((p) => p.name === name);
      if (!parameter) throw badRequest(`No value specified for parameter :${name}`);
      return bind(parameter);
    });
    // pg hands `types` to the Parse message as parameter type OIDs (pg-protocol's ParseOpts.types);
    // the getTypeParser beside them keeps every column as text.
    const types = Object.assign(
      bound.map((b) => b.oid),
      rawText,
    );
    let result: pg.QueryResult<string[]>;
    try {
      result = await client.query({
        text,
        values: bound.map((b) => b.value),
        types,
        rowMode: 'array',
      } as unknown as pg.QueryConfig);
    } catch (error) {
      throw sqlError(error);
    }
    return result;
  }

  async function handleExecute(body: Record<string, unknown>): Promise<string> {
    const parameters = Array.isArray(body.parameters) ? (body.parameters as SqlParameter[]) : [];
    const tx = body.transactionId === undefined ? undefined : transaction(body.transactionId);
    const client = tx?.client ?? (await connect(body.database));
    try {
      const result = await execute(client, body, parameters);
      const fields = result.fields ?? [];
      const dml = ['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY'].includes(result.command);
      const out: Record<string, unknown> = { numberOfRecordsUpdated: dml ? (result.rowCount ?? 0) : 0 };
      if (body.includeResultMetadata === true) {
        out.columnMetadata = await Promise.all(
          fields.map(async (f) => ({
            name: f.name,
            label: f.name,
            typeName: await typeName(client, f.dataTypeID),
            type: COLUMN_TYPES[f.dataTypeID]?.[1] ?? 1111,
            schemaName: '',
            tableName: '',
            isAutoIncrement: false,
            isSigned: INTEGER_OIDS.has(f.dataTypeID) || FLOAT_OIDS.has(f.dataTypeID),
            isCurrency: false,
            isCaseSensitive: !INTEGER_OIDS.has(f.dataTypeID),
            nullable: 2,
            precision: 0,
            scale: 0,
            arrayBaseColumnType: 0,
          })),
        );
      }
      if (fields.length === 0) return JSON.stringify(out);
      const asJson = body.formatRecordsAs === 'JSON';
      const rows = result.rows.map((row) =>
        asJson
          ? `{${fields.map((f, i) => `${JSON.stringify(f.name)}:${jsonLiteral(f.dataTypeID, row[i] ?? null, false)}`).join(',')}}`
          : `[${fields.map((f, i) => jsonLiteral(f.dataTypeID, row[i] ?? null, true)).join(',')}]`,
      );
      const records = `[${rows.join(',')}]`;
      if (Buffer.byteLength(records) > MAX_RESULT_BYTES) {
        // As the service does: a result set over 1 MiB ends the call (so our paging is tested here).
        throw new DataApiError('BadRequestException', 400, 'Database returned more than the allowed response size limit');
      }
      if (asJson) return JSON.stringify({ ...out, formattedRecords: records });
      // Spliced in as text so integer digits survive (JSON.stringify would go through a JS number).
      return `${JSON.stringify(out).slice(0, -1)},"records":${records}}`;
    } finally {
      if (!tx) client.release();
    }
  }

  async function handleBatch(body: Record<string, unknown>): Promise<string> {
    const sets = Array.isArray(body.parameterSets) ? (body.parameterSets as SqlParameter[][]) : [[]];
    const tx = body.transactionId === undefined ? undefined : transaction(body.transactionId);
    const client = tx?.client ?? (await connect(body.database));
    let broken = false;
    try {
      if (!tx) await client.query('BEGIN'); // outside a transaction the batch still applies whole or not at all
      for (const set of sets) await execute(client, body, set);
      if (!tx) await client.query('COMMIT');
      return JSON.stringify({ updateResults: sets.map(() => ({ generatedFields: [] })) });
    } catch (error) {
      if (!tx) await client.query('ROLLBACK').catch(() => (broken = true));
      throw error instanceof DataApiError ? error : sqlError(error);
    } finally {
      if (!tx) client.release(broken);
    }
  }

  async function handle(request: IncomingMessage): Promise<string> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const routes = ['/Execute', '/BatchExecute', '/BeginTransaction', '/CommitTransaction', '/RollbackTransaction'];
    if (request.method !== 'POST' || !routes.includes(path)) {
      throw new DataApiError('NotFoundException', 404, `Unknown operation ${request.method} ${path}`);
    }
    const body = await readBody(request);
    if (typeof body.resourceArn !== 'string' || typeof body.secretArn !== 'string') {
      throw badRequest('resourceArn and secretArn are required');
    }
    switch (path) {
      case '/Execute':
        return handleExecute(body);
      case '/BatchExecute':
        return handleBatch(body);
      case '/BeginTransaction': {
        const client = await connect(body.database);
        try {
          await client.query('BEGIN');
        } catch (error) {
          client.release(true);
          throw sqlError(error);
        }
        const id = randomBytes(24).toString('base64');
        // An abandoned transaction is rolled back like the service's own idle timeout; a failed rollback only
        // means the connection is already gone, which ends the transaction too.
        const timer = setTimeout(() => void end(id, 'ROLLBACK').catch(() => {}), TRANSACTION_IDLE_MS).unref();
        transactions.set(id, { client, timer });
        return JSON.stringify({ transactionId: id });
      }
      case '/CommitTransaction':
        await end(String(body.transactionId), 'COMMIT');
        return JSON.stringify({ transactionStatus: 'Transaction Committed' });
      default:
        await end(String(body.transactionId), 'ROLLBACK');
        return JSON.stringify({ transactionStatus: 'Rollback Complete' });
    }
  }

  const server = createServer((request, response) => {
    handle(request)
      .then(
        (body) => response.writeHead(200, { 'content-type': 'application/json' }).end(body),
        (error: unknown) => {
          const known =
            error instanceof DataApiError ? error : new DataApiError('InternalServerErrorException', 500, String(error));
          response
            .writeHead(known.status, { 'content-type': 'application/json', 'x-amzn-errortype': known.type })
            .end(JSON.stringify({ message: known.message }));
        },
      )
      .catch(() => response.destroy());
  });
  const listening = await listen(server, options.port ?? 0, host);

  return {
    url: listening.url,
    async close() {
      const closed = listening.close();
      // Closing: a rollback that fails has nothing left to protect (the pools end next).
      await Promise.all([...transactions.keys()].map((id) => end(id, 'ROLLBACK').catch(() => {})));
      await Promise.all([...pools.values()].map((p) => p.end()));
      await closed;
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const server = await startDataApiServer({
    databaseUrl,
    port: Number(process.env.DATA_API_LOCAL_PORT ?? 8080),
    // 0.0.0.0 inside a container (localstack-compose.yml), so LocalStack's Lambdas can reach it.
    host: process.env.DATA_API_LOCAL_HOST ?? '127.0.0.1',
  });
  const database = new URL(databaseUrl).pathname.slice(1);
  console.log(`RDS Data API (local) on ${server.url}, over ${redactCredentials(databaseUrl)}`);
  console.log('Point the pipeline at it with any ARN-shaped values (they are not checked):');
  console.log(`  ${ENV.sqlDriver}=data-api`);
  console.log(`  ${ENV.rdsDataEndpoint}=${server.url}`);
  console.log(`  ${ENV.dbClusterArn}=arn:aws:rds:us-east-1:000000000000:cluster:eventflow-local`);
  console.log(`  ${ENV.dbSecretArn}=arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-local`);
  console.log(`  ${ENV.dbName}=${database}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop).once('SIGTERM', stop);
}
