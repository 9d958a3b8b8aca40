// EventFlow's configuration: one zod schema over the environment, parsed once at cold start.
// A bad value fails fast with a message naming the variable; nothing else reads process.env.
import * as z from 'zod/mini';
import { ENV } from './config-keys.ts';
import { ConfigError } from './errors.ts';

const int = (min: number, max: number) =>
  z.pipe(
    z.string().check(z.regex(/^\d+$/, { error: 'must be a whole number' })),
    z.transform(Number).check(z.gte(min, { error: `must be at least ${min}` }), z.lte(max, { error: `must be at most ${max}` })),
  );

const optionalUrl = z.optional(z.url({ error: 'must be a URL' }));

const schema = z.object({
  [ENV.sqlDriver]: z._default(z.enum(['pglite', 'pg', 'data-api'], { error: 'must be pglite, pg or data-api' }), 'pglite'),
  [ENV.databaseUrl]: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// URL' }))),
  [ENV.pgliteDir]: z._default(z.string(), '.eventflow/pglite'),
  [ENV.dbClusterArn]: z.optional(z.string().check(z.minLength(1))),
  [ENV.dbSecretArn]: z.optional(z.string().check(z.minLength(1))),
  [ENV.dbName]: z._default(z.string(), 'eventflow'),
  [ENV.rdsDataEndpoint]: optionalUrl,
  [ENV.streamDriver]: z._default(z.enum(['ioredis', 'upstash'], { error: 'must be ioredis or upstash' }), 'ioredis'),
  [ENV.redisUrl]: z._default(
    z.string().check(z.regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })),
    'redis://127.0.0.1:6379',
  ),
  [ENV.upstashUrl]: optionalUrl,
  [ENV.upstashToken]: z.optional(z.string()),
  [ENV.upstashSecretArn]: z.optional(z.string().check(z.minLength(1))),
  [ENV.streamKey]: z._default(z.string().check(z.minLength(1)), 'events'),
  [ENV.consumerGroup]: z._default(z.string().check(z.minLength(1)), 'workers'),
  [ENV.consumerName]: z.optional(z.string().check(z.minLength(1))),
  [ENV.consumerMode]: z._default(z.enum(['scheduled', 'continuous'], { error: 'must be scheduled or continuous' }), 'scheduled'),
  [ENV.batchSize]: z._default(int(1, 1000), 100),
  [ENV.blockMs]: z._default(int(0, 60_000), 5000),
  [ENV.maxAttempts]: z._default(int(1, 100), 3),
  [ENV.retryBaseMs]: z._default(int(1, 3_600_000), 2000),
  [ENV.futureSkewMs]: z._default(int(0, 86_400_000), 300000),
  [ENV.reconcileGraceMs]: z._default(int(1000, 86_400_000), 60000),
  [ENV.reconcileIdleIntervalMs]: z._default(int(1000, 86_400_000), 3_600_000),
  [ENV.timeMarginMs]: z._default(int(0, 600_000), 10000),
  [ENV.maintenanceIntervalMs]: z._default(int(100, 3_600_000), 10000),
  [ENV.dlqUrl]: optionalUrl,
  [ENV.ingestFallbackQueueUrl]: optionalUrl,
  [ENV.sqsEndpoint]: optionalUrl,
  [ENV.adminToken]: z.optional(z.string().check(z.minLength(16, { error: 'must be at least 16 characters' }))),
  [ENV.port]: z._default(int(0, 65_535), 3000),
  [ENV.serviceName]: z._default(z.string(), 'eventflow'),
  [ENV.metricsNamespace]: z._default(z.string(), 'EventFlow'),
  [ENV.logLevel]: z._default(z.string(), 'INFO'),
});

export interface Config {
  readonly sql:
    | { readonly driver: 'pglite'; readonly dataDir: string }
    | { readonly driver: 'pg'; readonly url: string }
    | {
        readonly driver: 'data-api';
        readonly clusterArn: string;
        readonly secretArn: string;
        readonly database: string;
        readonly endpoint?: string;
      };
  readonly stream: {
    readonly driver: 'ioredis' | 'upstash';
    readonly redisUrl: string;
    readonly upstash: { readonly url?: string; readonly token?: string; readonly secretArn?: string };
    readonly key: string;
    readonly group: string;
  };
  readonly consumer: {
    readonly name?: string;
    readonly mode: 'scheduled' | 'continuous';
    readonly batchSize: number;
    readonly blockMs: number;
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    readonly reconcileGraceMs: number;
    readonly reconcileIdleIntervalMs: number;
    readonly timeMarginMs: number;
    readonly maintenanceIntervalMs: number;
  };
  readonly rules: { readonly futureSkewMs: number };
  readonly queues: { readonly dlqUrl?: string; readonly fallbackUrl?: string; readonly endpoint?: string };
  readonly adminToken?: string;
  readonly port: number;
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly logLevel: string;
}

function requireVar(env: Record<string, string | undefined>, name: string, why: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is required ${why}`);
  return value;
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings count as unset, so `FOO=` in a .env file means "use the default".
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const v = parsed.data;
  // DATABASE_URL alone means "use that Postgres": the embedded database is only the no-setup default.
  const sqlDriver = present[ENV.sqlDriver] ? v.SQL_DRIVER : v.DATABASE_URL ? 'pg' : v.SQL_DRIVER;
  let sql: Config['sql'];
  if (sqlDriver === 'data-api') {
    sql = {
      driver: 'data-api',
      clusterArn: requireVar(present, ENV.dbClusterArn, 'when SQL_DRIVER=data-api'),
      secretArn: requireVar(present, ENV.dbSecretArn, 'when SQL_DRIVER=data-api'),
      database: v.DB_NAME,
      ...(v.RDS_DATA_ENDPOINT ? { endpoint: v.RDS_DATA_ENDPOINT } : {}),
    };
  } else if (sqlDriver === 'pg') {
    sql = { driver: 'pg', url: requireVar(present, ENV.databaseUrl, 'when SQL_DRIVER=pg') };
  } else {
    sql = { driver: 'pglite', dataDir: v.PGLITE_DIR };
  }
  if (v.STREAM_DRIVER === 'upstash' && !v.UPSTASH_SECRET_ARN && !(v.UPSTASH_REDIS_REST_URL && v.UPSTASH_REDIS_REST_TOKEN)) {
    throw new ConfigError(
      'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or UPSTASH_SECRET_ARN) are required when STREAM_DRIVER=upstash',
    );
  }
  return {
    sql,
    stream: {
      driver: v.STREAM_DRIVER,
      redisUrl: v.REDIS_URL,
      upstash: { url: v.UPSTASH_REDIS_REST_URL, token: v.UPSTASH_REDIS_REST_TOKEN, secretArn: v.UPSTASH_SECRET_ARN },
      key: v.STREAM_KEY,
      group: v.CONSUMER_GROUP,
    },
    consumer: {
      name: v.CONSUMER_NAME,
      mode: v.CONSUMER_MODE,
      batchSize: v.BATCH_SIZE,
      blockMs: v.BLOCK_MS,
      maxAttempts: v.MAX_ATTEMPTS,
      retryBaseMs: v.RETRY_BASE_MS,
      reconcileGraceMs: v.RECONCILE_GRACE_MS,
      reconcileIdleIntervalMs: v.RECONCILE_IDLE_INTERVAL_MS,
      timeMarginMs: v.TIME_MARGIN_MS,
      maintenanceIntervalMs: v.MAINTENANCE_INTERVAL_MS,
    },
    rules: { futureSkewMs: v.FUTURE_SKEW_MS },
    queues: { dlqUrl: v.DLQ_URL, fallbackUrl: v.INGEST_FALLBACK_QUEUE_URL, endpoint: v.SQS_ENDPOINT },
    adminToken: v.ADMIN_TOKEN,
    port: v.PORT,
    serviceName: v.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: v.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: v.POWERTOOLS_LOG_LEVEL,
  };
}
