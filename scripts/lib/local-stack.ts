// The whole pipeline on one machine: the ingest handler behind a local HTTP server, the consumer
// handler's drain loop running continuously, local protocol endpoints when the serverless drivers are
// chosen without real endpoints. Used by `npm start`, the HTTP-level tests and the fault suite.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { consumerName, createEventStream, createQueues, createSqlExecutor } from '../../lambdas/adapters/deps.ts';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { type Config, loadConfig } from '../../lambdas/config/config.ts';
import { ENV } from '../../lambdas/config/keys.ts';
import { drainSettings } from '../../lambdas/consumer/settings.ts';
import { createBackpressure } from '../../lambdas/core/backpressure.ts';
import type { DrainSummary } from '../../lambdas/core/drain/delivery.ts';
import { createDrainer } from '../../lambdas/core/drain/loop.ts';
import { createIngestBatcher } from '../../lambdas/core/ingest-batcher.ts';
import { migrate } from '../../lambdas/core/migrations.ts';
import { errorMessage } from '../../lambdas/errors.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../lambdas/ingest/uuidv7.ts';
import { createLogger, redactCredentials } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, type SqlExecutor, systemClock } from '../../lambdas/ports.ts';
import { createLocalApiServer, type ProxyHandler } from './local-api-gateway.ts';

export interface LocalStackOptions {
  /** Environment to read the config from (defaults to process.env). */
  readonly env?: Record<string, string | undefined>;
  /** Start the consumer loop (default true). */
  readonly consumer?: boolean;
  /** Start the HTTP server (default true). */
  readonly api?: boolean;
  readonly host?: string;
  readonly log?: (line: string) => void;
  /** Called if the consumer loop ends by itself with an error (a bug): the process should not go on half alive. */
  readonly onConsumerFailure?: (error: unknown) => void;
}

export interface LocalStack {
  readonly url: string;
  readonly config: Config;
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  /** Stops taking requests, lets the batch in flight finish, closes everything. */
  stop(): Promise<DrainSummary | null>;
}

/** Thrown with a one-line, actionable message when a dependency is not there. */
export class LocalDependencyError extends Error {
  override readonly name = 'LocalDependencyError';
}

/** A URL setting the local endpoints need before the config is loaded: refused in one line, never echoed. */
function urlSetting(env: Record<string, string | undefined>, name: string, fallback?: string): string | undefined {
  const value = env[name] || fallback;
  if (value !== undefined && !URL.canParse(value)) {
    throw new LocalDependencyError(`${name} is not a valid URL (check the host, port and escaping)`);
  }
  return value;
}

async function startLocalEndpoints(env: Record<string, string | undefined>, log: (line: string) => void) {
  const closers: Array<() => Promise<void>> = [];
  const out = { ...env };
  const databaseUrl = urlSetting(env, ENV.databaseUrl);
  if (env[ENV.sqlDriver] === 'data-api' && !env[ENV.rdsDataEndpoint]) {
    if (!databaseUrl) {
      throw new LocalDependencyError(
        'SQL_DRIVER=data-api needs DATABASE_URL (the local Data API endpoint sits on a real Postgres)',
      );
    }
    const { startDataApiServer } = await import('../local-endpoints/data-api.ts');
    const server = await startDataApiServer({ databaseUrl, port: 0 });
    closers.push(() => server.close());
    out[ENV.rdsDataEndpoint] = server.url;
    // The endpoint runs each request on the database the request names: by default, DATABASE_URL's.
    out[ENV.dbName] ||= new URL(databaseUrl).pathname.slice(1) || 'postgres';
    out[ENV.dbClusterArn] ??= 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-local';
    out[ENV.dbSecretArn] ??= 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-local';
    // The SDK reads these from the process environment; the local endpoint accepts any signature.
    process.env.AWS_REGION ??= 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    log(`local RDS Data API endpoint: ${server.url} (over ${redactCredentials(databaseUrl)})`);
  }
  if (env[ENV.streamDriver] === 'upstash' && !env[ENV.upstashUrl]) {
    const { startUpstashRestServer } = await import('../local-endpoints/upstash-rest.ts');
    const token = env[ENV.upstashToken] ?? 'local-token';
    const redisUrl = urlSetting(env, ENV.redisUrl, 'redis://127.0.0.1:6379') as string;
    const server = await startUpstashRestServer({ redisUrl, token, port: 0 }).catch((error: unknown) => {
      throw new LocalDependencyError(
        `Redis is not reachable at ${redactCredentials(redisUrl)} (the local Upstash endpoint sits on it; ${errorMessage(error)}): start one with \`redis-server --daemonize yes\` or set REDIS_URL`,
      );
    });
    closers.push(() => server.close());
    out[ENV.upstashUrl] = server.url;
    out[ENV.upstashToken] = token;
    log(`local Upstash REST endpoint: ${server.url}`);
  }
  return { env: out, close: async () => void (await Promise.all(closers.map((close) => close()))) };
}

/**
 * PGlite is one process's database: a second process opening the same files corrupts what the first
 * one sees. The lock file holds the owner's pid; a lock whose pid is gone (a crash, SIGKILL) is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  const lockPath = `${resolve(dataDir)}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        // Only our own lock: a process that took a stale one over must keep it. A lock someone already
        // deleted is released as far as we are concerned (this runs at exit: it must not throw).
        const owner = existsSync(lockPath) ? readFileSync(lockPath, 'utf8').trim() : '';
        if (owner === String(process.pid)) rmSync(lockPath, { force: true });
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LocalDependencyError(
          `cannot lock the embedded database ${dataDir} (${(error as Error).message}): check the folder's permissions or set PGLITE_DIR`,
        );
      }
    }
    const owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
      throw new LocalDependencyError(
        `the embedded database in ${dataDir} is in use by another EventFlow process (pid ${owner}); it serves one process only: stop that one, or run several processes against one Postgres with DATABASE_URL=postgres://…`,
      );
    }
    rmSync(lockPath, { force: true }); // stale: its process is gone
  }
  throw new LocalDependencyError(`cannot lock the embedded database ${dataDir}: another process keeps taking ${lockPath}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Binds the port before anything slow or stateful is opened, so a clash costs nothing and says so. */
async function bindPort(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') {
      throw new LocalDependencyError(
        `port ${port} on ${host} is already in use (another npm start?): stop that process or set PORT`,
      );
    }
    if (error.code === 'EACCES') throw new LocalDependencyError(`port ${port} needs privileges: set PORT to 1024 or above`);
    throw new LocalDependencyError(`cannot listen on ${host}:${port} (${error.message}): set PORT or free the port`);
  });
}

/** Opens the database and applies migrations; any failure is one line naming what to fix. */
async function openDatabase(config: Config, log: (line: string) => void): Promise<SqlExecutor> {
  const fix =
    config.sql.driver === 'pg'
      ? 'start Postgres or fix DATABASE_URL'
      : config.sql.driver === 'data-api'
        ? 'check RDS_DATA_ENDPOINT (or unset it to use a local endpoint over DATABASE_URL) and the cluster/secret ARNs'
        : 'delete the folder to start afresh, or set PGLITE_DIR';
  let sql: SqlExecutor | undefined;
  try {
    sql = await createSqlExecutor(config);
    const applied = await migrate(sql, loadMigrations());
    if (applied.length) log(`migrations applied: ${applied.join(', ')}`);
    return sql;
  } catch (error) {
    await sql?.close().catch(() => {
      // Already failing: the one line below says why; a close error would only hide it.
    });
    throw new LocalDependencyError(
      redactCredentials(`cannot prepare the database (${describeSql(config)}): ${(error as Error).message}: ${fix}`),
    );
  }
}

/** The one-line reason the stream cannot be reached, naming the setting to fix. */
function streamUnreachable(config: Config, error: unknown): LocalDependencyError {
  if (config.stream.driver === 'upstash') {
    return new LocalDependencyError(
      redactCredentials(
        `the Upstash REST endpoint ${config.stream.upstash.url ?? '(from UPSTASH_SECRET_ARN)'} is not reachable (${errorMessage(error)}): check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or unset them to use a local endpoint over REDIS_URL`,
      ),
    );
  }
  return new LocalDependencyError(
    `Redis is not reachable at ${redactCredentials(config.stream.redisUrl)}: start one with \`redis-server --daemonize yes\` or set REDIS_URL`,
  );
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  // LISTEN_HOST (or the original's API_HOST), unless the caller names one.
  const host = (config: Config) => options.host ?? config.host;
  const log = options.log ?? ((line: string) => console.log(line));
  // Undone in reverse order if start-up fails half-way, so a failed start leaves nothing behind.
  const undo: Array<() => Promise<unknown> | unknown> = [];
  const unwind = async () => {
    for (const step of undo.splice(0).reverse()) {
      // Each step runs even if one before it failed; the error that stopped the start is what is reported.
      await Promise.resolve(step()).catch(() => {});
    }
  };
  try {
    const endpoints = await startLocalEndpoints(options.env ?? process.env, log);
    undo.push(() => endpoints.close());
    const config = loadConfig(endpoints.env);
    const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel });
    const metrics = createPrometheusMetrics();

    // The port first: a clash is found before the database is opened.
    let app: ProxyHandler | null = null;
    let server: Server | null = null;
    if (options.api !== false) {
      const listening = createLocalApiServer((event, context) => (app ? app(event, context) : Promise.resolve(startingUp())), {
        'GET /metrics': async (response) => {
          response.writeHead(200, { 'content-type': metrics.registry.contentType });
          response.end(await metrics.render());
        },
      });
      await bindPort(listening, config.port, host(config));
      server = listening;
      undo.push(() => (listening.listening ? new Promise((done) => listening.close(done)) : undefined));
    }
    if (config.sql.driver === 'pglite') undo.push(lockDataDir(config.sql.dataDir));

    const sql = await openDatabase(config, log);
    undo.push(() => sql.close());
    // Building a stream can already reach out (Upstash credentials from Secrets Manager).
    const openStream = (options?: { maxBlockMs: number }) =>
      createEventStream(config, options).catch((error: unknown) => {
        throw streamUnreachable(config, error);
      });
    const stream = await openStream();
    undo.push(() => stream.close());
    const consumerStream = await openStream({ maxBlockMs: config.consumer.blockMs });
    undo.push(() => consumerStream.close());
    try {
      await stream.ping();
    } catch (error) {
      throw streamUnreachable(config, error);
    }
    await stream.ensureGroup();
    const queues = await createQueues(config);

    let url = '';
    if (server) {
      app = createIngestApp({
        sql,
        stream,
        ...(queues.fallback ? { fallback: queues.fallback } : {}),
        clock: systemClock,
        newId: uuidv7,
        metrics,
        logger,
        ...(config.adminToken ? { adminToken: config.adminToken } : {}),
        ...(config.producerKeys ? { producerKeys: config.producerKeys } : {}),
        backpressure: createBackpressure({ stream, clock: systemClock, logger }, config.backpressure),
        // Concurrent single POSTs share one INSERT and one XADD (the Lambda handler writes each on its own).
        groupCommit: createIngestBatcher(),
      });
      url = `http://${host(config)}:${(server.address() as AddressInfo).port}`;
    }
    return running({ url, config, sql, stream, consumerStream, server, queues, logger, metrics, options, release: unwind });
  } catch (error) {
    await unwind();
    throw error;
  }
}

/** Answer while the database and stream are still being opened (the port is bound first). */
function startingUp(): APIGatewayProxyResult {
  return {
    statusCode: 503,
    headers: { 'content-type': 'application/json', 'retry-after': '1' },
    body: JSON.stringify({ error: 'service_unavailable', message: 'starting up; retry in a moment' }),
  };
}

function running(parts: {
  url: string;
  config: Config;
  sql: SqlExecutor;
  stream: EventStream;
  consumerStream: EventStream;
  server: Server | null;
  queues: Awaited<ReturnType<typeof createQueues>>;
  logger: ReturnType<typeof createLogger>;
  metrics: ReturnType<typeof createPrometheusMetrics>;
  options: LocalStackOptions;
  release: () => Promise<void>;
}): LocalStack {
  const { url, config, sql, stream, consumerStream, server, queues, logger, metrics, options } = parts;
  let stopping = false;
  let drainDone: Promise<DrainSummary> | null = null;
  if (options.consumer !== false) {
    const drainer = createDrainer(
      { sql, stream: consumerStream, ...queues, clock: systemClock, metrics, logger },
      drainSettings(config, consumerName(config), { mode: 'continuous' }),
    );
    metrics.gauge('activeWorkers', 1);
    drainDone = drainer.drain({ remainingMs: () => Number.MAX_SAFE_INTEGER, marginMs: 0, shouldStop: () => stopping });
    drainDone.catch((error) => {
      logger.error('consumer loop stopped', { error: String(error) });
      options.onConsumerFailure?.(error);
    });
  }

  return {
    url,
    config,
    sql,
    stream,
    async stop() {
      stopping = true;
      // Stop taking requests at once; the batch in flight is finished before anything is closed.
      server?.close();
      server?.closeAllConnections();
      const summary = drainDone ? await drainDone.catch(() => null) : null;
      metrics.gauge('activeWorkers', 0);
      // Closes the server, the streams, the database, the local endpoints and the data-folder lock.
      await parts.release();
      return summary;
    },
  };
}

export function describeSql(config: Config): string {
  switch (config.sql.driver) {
    case 'pg':
      // The config checked that it parses; never print it whole (a password may be in it).
      return URL.canParse(config.sql.url)
        ? `Postgres at ${new URL(config.sql.url).host}${new URL(config.sql.url).pathname}`
        : `Postgres at ${redactCredentials(config.sql.url)}`;
    case 'pglite':
      return `embedded PGlite in ${config.sql.dataDir}`;
    case 'data-api':
      return `RDS Data API ${config.sql.endpoint ?? '(AWS)'} cluster ${config.sql.clusterArn}`;
  }
}
