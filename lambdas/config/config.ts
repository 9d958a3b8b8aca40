// EventFlow's configuration: the settings schema (settings.ts) parsed over the environment once at cold
// start and grouped for its users; the Config type is inferred from it. A bad value fails fast with a
// message naming the variable; nothing else reads process.env.
import { ConfigError } from '../errors.ts';
import { applyAliases } from './aliases.ts';
import { ENV, type EnvKey } from './keys.ts';
import { type Settings, settingsSchema } from './settings.ts';

export { PRODUCER_NAME, type SettingDoc, settingDocList } from './settings.ts';

function required(present: Record<string, string>, name: EnvKey, why: string): string {
  const value = present[name];
  if (!value) throw new ConfigError(`${name} is required ${why}`);
  return value;
}

function sqlConfig(v: Settings, present: Record<string, string>) {
  // DATABASE_URL alone means "use that Postgres": the embedded database is only the no-setup default.
  const driver = v.SQL_DRIVER ?? (v.DATABASE_URL ? 'pg' : 'pglite');
  if (driver === 'data-api') {
    return {
      driver,
      clusterArn: required(present, ENV.dbClusterArn, 'when SQL_DRIVER=data-api'),
      secretArn: required(present, ENV.dbSecretArn, 'when SQL_DRIVER=data-api'),
      database: v.DB_NAME,
      ...(v.RDS_DATA_ENDPOINT ? { endpoint: v.RDS_DATA_ENDPOINT } : {}),
    } as const;
  }
  if (driver === 'pg') return { driver, url: required(present, ENV.databaseUrl, 'when SQL_DRIVER=pg') } as const;
  return { driver, dataDir: v.PGLITE_DIR } as const;
}

/** The settings grouped the way their users take them (deps.ts, the handlers, the drain loop). */
function toConfig(v: Settings, present: Record<string, string>) {
  if (v.STREAM_DRIVER === 'upstash' && !v.UPSTASH_SECRET_ARN && !(v.UPSTASH_REDIS_REST_URL && v.UPSTASH_REDIS_REST_TOKEN)) {
    throw new ConfigError(
      'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (or UPSTASH_SECRET_ARN) are required when STREAM_DRIVER=upstash',
    );
  }
  return {
    sql: sqlConfig(v, present),
    stream: {
      driver: v.STREAM_DRIVER,
      redisUrl: v.REDIS_URL,
      upstash: {
        url: v.UPSTASH_REDIS_REST_URL,
        token: v.UPSTASH_REDIS_REST_TOKEN,
        secretArn: v.UPSTASH_SECRET_ARN,
        secretsExtensionPort: v.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
      },
      key: v.STREAM_KEY,
      group: v.CONSUMER_GROUP,
    },
    consumer: {
      name: v.CONSUMER_NAME,
      timeMarginMs: v.TIME_MARGIN_MS,
      // The drain loop's settings (consumer/settings.ts passes these on as they are).
      mode: v.CONSUMER_MODE,
      batchSize: v.BATCH_SIZE,
      blockMs: v.BLOCK_MS,
      maxAttempts: v.MAX_ATTEMPTS,
      retryBaseMs: v.RETRY_BASE_MS,
      futureSkewMs: v.FUTURE_SKEW_MS,
      reconcileGraceMs: v.RECONCILE_GRACE_MS,
      reconcileIdleIntervalMs: v.RECONCILE_IDLE_INTERVAL_MS,
      maintenanceIntervalMs: v.MAINTENANCE_INTERVAL_MS,
    },
    backpressure: {
      maxLag: v.BACKPRESSURE_MAX_LAG,
      maxAgeMs: v.BACKPRESSURE_MAX_AGE_MS,
      statsTtlMs: v.BACKPRESSURE_STATS_TTL_MS,
    },
    queues: { dlqUrl: v.DLQ_URL, fallbackUrl: v.INGEST_FALLBACK_QUEUE_URL, endpoint: v.SQS_ENDPOINT },
    adminToken: v.ADMIN_TOKEN,
    producerKeys: v.PRODUCER_KEYS,
    host: v.LISTEN_HOST,
    port: v.PORT,
    serviceName: v.POWERTOOLS_SERVICE_NAME,
    metricsNamespace: v.POWERTOOLS_METRICS_NAMESPACE,
    logLevel: v.POWERTOOLS_LOG_LEVEL,
  } as const;
}

/** The validated configuration, inferred from the schema above through `toConfig`. */
export type Config = ReturnType<typeof toConfig>;

export interface LoadConfigOptions {
  /**
   * Receives each one-line notice about the original's variable names (read as ours, or ignored).
   * Default: `console.warn`, once per distinct notice in this process.
   */
  readonly notice?: (line: string) => void;
}

const noticed = new Set<string>();
function warnOnce(line: string): void {
  if (noticed.has(line)) return;
  noticed.add(line);
  console.warn(line);
}

/**
 * Parses the environment; throws ConfigError naming every bad variable. The original EventFlow's names
 * (config-aliases.ts) are read too, with a notice each.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, options: LoadConfigOptions = {}): Config {
  // Empty strings count as unset, so `FOO=` in a .env file means "use the default".
  const given = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''),
  );
  const aliases = applyAliases(given);
  const notice = options.notice ?? warnOnce;
  for (const line of aliases.notices) notice(`eventflow config: ${line}`);
  const present = aliases.env;
  const parsed = settingsSchema.safeParse(present);
  const problems = [
    ...aliases.errors,
    ...(parsed.error?.issues ?? []).map((issue) => {
      const name = String(issue.path[0]);
      // A value that came from an alias is reported under the name the operator wrote.
      return `${aliases.origins.get(name) ?? name}: ${issue.message}`;
    }),
  ];
  if (problems.length || !parsed.success) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return toConfig(parsed.data, present);
}
