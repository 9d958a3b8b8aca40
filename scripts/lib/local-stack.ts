// The whole pipeline on one machine: the ingest handler behind a local HTTP server, the consumer
// handler's drain loop running continuously, local protocol endpoints when the serverless drivers are
// chosen without real endpoints. Used by `npm start`, the HTTP-level tests and the fault suite.
import type { AddressInfo } from 'node:net';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { type Config, loadConfig } from '../../lambdas/config.ts';
import { ENV } from '../../lambdas/config-keys.ts';
import { drainSettings } from '../../lambdas/consumer/settings.ts';
import { createDrainer, type DrainSummary } from '../../lambdas/core/drain.ts';
import { migrate } from '../../lambdas/core/migrations.ts';
import { consumerName, createEventStream, createQueues, createSqlExecutor } from '../../lambdas/deps.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { createLogger, redactCredentials } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, type SqlExecutor, systemClock } from '../../lambdas/ports.ts';
import { uuidv7 } from '../../lambdas/uuidv7.ts';
import { createLocalApiServer } from './local-api-gateway.ts';

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

async function startLocalEndpoints(env: Record<string, string | undefined>, log: (line: string) => void) {
  const closers: Array<() => Promise<void>> = [];
  const out = { ...env };
  if (env[ENV.sqlDriver] === 'data-api' && !env[ENV.rdsDataEndpoint]) {
    if (!env[ENV.databaseUrl]) {
      throw new LocalDependencyError(
        'SQL_DRIVER=data-api needs DATABASE_URL (the local Data API endpoint sits on a real Postgres)',
      );
    }
    const { startDataApiServer } = await import('../local-endpoints/data-api.ts');
    const server = await startDataApiServer({ databaseUrl: env[ENV.databaseUrl] as string, port: 0 });
    closers.push(() => server.close());
    out[ENV.rdsDataEndpoint] = server.url;
    // The endpoint runs each request on the database the request names: by default, DATABASE_URL's.
    out[ENV.dbName] ??= new URL(env[ENV.databaseUrl] as string).pathname.slice(1) || 'postgres';
    out[ENV.dbClusterArn] ??= 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-local';
    out[ENV.dbSecretArn] ??= 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-local';
    // The SDK reads these from the process environment; the local endpoint accepts any signature.
    process.env.AWS_REGION ??= 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    log(`local RDS Data API endpoint: ${server.url} (over ${redactCredentials(env[ENV.databaseUrl] as string)})`);
  }
  if (env[ENV.streamDriver] === 'upstash' && !env[ENV.upstashUrl]) {
    const { startUpstashRestServer } = await import('../local-endpoints/upstash-rest.ts');
    const token = env[ENV.upstashToken] ?? 'local-token';
    const server = await startUpstashRestServer({ redisUrl: env[ENV.redisUrl] ?? 'redis://127.0.0.1:6379', token, port: 0 });
    closers.push(() => server.close());
    out[ENV.upstashUrl] = server.url;
    out[ENV.upstashToken] = token;
    log(`local Upstash REST endpoint: ${server.url}`);
  }
  return { env: out, close: async () => void (await Promise.all(closers.map((close) => close()))) };
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  const endpoints = await startLocalEndpoints(options.env ?? process.env, log);
  const config = loadConfig(endpoints.env);
  const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel });
  const metrics = createPrometheusMetrics();

  const sql = await createSqlExecutor(config);
  const applied = await migrate(sql, loadMigrations()).catch((error: Error) => {
    throw new LocalDependencyError(redactCredentials(`cannot prepare the database (${describeSql(config)}): ${error.message}`));
  });
  if (applied.length) log(`migrations applied: ${applied.join(', ')}`);

  const stream = await createEventStream(config);
  const consumerStream = await createEventStream(config, { maxBlockMs: config.consumer.blockMs });
  try {
    await stream.ping();
  } catch {
    await Promise.all([sql.close(), stream.close(), consumerStream.close(), endpoints.close()]);
    throw new LocalDependencyError(
      `Redis is not reachable at ${redactCredentials(config.stream.redisUrl)}: start one with \`redis-server --daemonize yes\` or set REDIS_URL`,
    );
  }
  await stream.ensureGroup();
  const queues = await createQueues(config);

  let server: ReturnType<typeof createLocalApiServer> | null = null;
  let url = '';
  if (options.api !== false) {
    const app = createIngestApp({
      sql,
      stream,
      ...(queues.fallback ? { fallback: queues.fallback } : {}),
      clock: systemClock,
      newId: uuidv7,
      metrics,
      logger,
      ...(config.adminToken ? { adminToken: config.adminToken } : {}),
    });
    server = createLocalApiServer(app, {
      'GET /metrics': async (response) => {
        response.writeHead(200, { 'content-type': metrics.registry.contentType });
        response.end(await metrics.render());
      },
    });
    await new Promise<void>((resolve) => server?.listen(config.port, options.host ?? '127.0.0.1', resolve));
    const address = server.address() as AddressInfo;
    url = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  }

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
      if (server) {
        const closing = new Promise<void>((resolve) => server?.close(() => resolve()));
        server.closeAllConnections();
        await closing;
      }
      const summary = drainDone ? await drainDone.catch(() => null) : null;
      metrics.gauge('activeWorkers', 0);
      await Promise.all([stream.close(), consumerStream.close(), sql.close()]);
      await endpoints.close();
      return summary;
    },
  };
}

export function describeSql(config: Config): string {
  switch (config.sql.driver) {
    case 'pg':
      return `Postgres at ${new URL(config.sql.url).host}${new URL(config.sql.url).pathname}`;
    case 'pglite':
      return `embedded PGlite in ${config.sql.dataDir}`;
    case 'data-api':
      return `RDS Data API ${config.sql.endpoint ?? '(AWS)'} cluster ${config.sql.clusterArn}`;
  }
}
