// EventFlow's configuration: one zod schema over the environment, parsed once at cold start. Each
// setting's rule, default, unit and meaning are written once, below; the Config type is inferred from them.
// A bad value fails fast with a message naming the variable; nothing else reads process.env.
import * as z from 'zod/mini';
import { applyAliases } from './config-aliases.ts';
import { ENV, type EnvKey } from './config-keys.ts';
import { ConfigError } from './errors.ts';

/** What README's configuration table and `.env.example` say about a setting (test/unit/docs.test.ts checks both). */
export interface SettingDoc {
  /** The default, as written in the environment; absent when there is none, or when it is computed (see `defaultNote`). */
  readonly default?: string;
  /** Unit of a number (`ms`, `entries`, `attempts`): shown after the default. */
  readonly unit?: string;
  /** A computed default, or how the default changes in some setups; README shows it in the default column. */
  readonly defaultNote?: string;
  /** What it means: README's meaning column. */
  readonly doc: string;
}

const settingDocs = z.registry<SettingDoc>();

/** A setting with a default: parsed from its env form, so the documented default obeys the same rule. */
function setting<T extends z.ZodMiniType>(
  type: T,
  doc: SettingDoc & { readonly default: z.input<T> & string },
): z.ZodMiniPrefault<T>;
/** A setting without a literal default: unset stays undefined. */
function setting<T extends z.ZodMiniType>(type: T, doc: SettingDoc & { readonly default?: undefined }): z.ZodMiniOptional<T>;
function setting<T extends z.ZodMiniType>(type: T, doc: SettingDoc): z.ZodMiniPrefault<T> | z.ZodMiniOptional<T> {
  const schema = doc.default === undefined ? z.optional(type) : z.prefault(type, doc.default as z.input<T>);
  return schema.register(settingDocs, doc);
}

const int = (min: number, max: number) =>
  z.pipe(
    z.string().check(z.regex(/^\d+$/, { error: 'must be a whole number' })),
    z.transform(Number).check(z.gte(min, { error: `must be at least ${min}` }), z.lte(max, { error: `must be at most ${max}` })),
  );
const url = z.url({ error: 'must be a URL' });
const nonEmpty = z.string().check(z.minLength(1));
const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

/** Every variable EventFlow reads, keyed by its name (config-keys.ts), in README's order. */
const settings = {
  [ENV.sqlDriver]: setting(z.enum(['pglite', 'pg', 'data-api'], { error: 'must be pglite, pg or data-api' }), {
    defaultNote: '`pg` if `DATABASE_URL` is set, else `pglite`',
    doc: '`pglite` (embedded), `pg` (direct / RDS Proxy), `data-api` (Aurora via the RDS Data API)',
  }),
  [ENV.databaseUrl]: setting(z.string().check(z.regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// URL' })), {
    doc: 'Postgres URL for `pg`; for local `data-api` mode, the database the local endpoint sits on',
  }),
  [ENV.pgliteDir]: setting(z.string(), { default: '.eventflow/pglite', doc: 'where the embedded database keeps its files' }),
  [ENV.dbClusterArn]: setting(nonEmpty, { doc: 'Aurora cluster ARN (required for `data-api`)' }),
  [ENV.dbSecretArn]: setting(nonEmpty, {
    doc: "Secrets Manager secret with the cluster's credentials (required for `data-api`)",
  }),
  [ENV.dbName]: setting(z.string(), {
    default: 'eventflow',
    defaultNote: "locally: `DATABASE_URL`'s database",
    doc: 'database name for the Data API',
  }),
  [ENV.rdsDataEndpoint]: setting(url, { defaultNote: "AWS's", doc: 'a Data API endpoint URL (the local one)' }),
  [ENV.streamDriver]: setting(z.enum(['ioredis', 'upstash'], { error: 'must be ioredis or upstash' }), {
    default: 'ioredis',
    doc: '`ioredis` (TCP: local Redis, ElastiCache/Valkey, Upstash over TLS) or `upstash` (REST)',
  }),
  [ENV.redisUrl]: setting(z.string().check(z.regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' })), {
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis for `ioredis` (`rediss://` for TLS)',
  }),
  [ENV.upstashUrl]: setting(url, { doc: 'Upstash REST endpoint (with the token, or `UPSTASH_SECRET_ARN`, for `upstash`)' }),
  [ENV.upstashToken]: setting(z.string(), { doc: 'Upstash REST token' }),
  [ENV.upstashSecretArn]: setting(nonEmpty, {
    doc: 'Secrets Manager secret holding `{"url","token"}` (what the CDK stack sets)',
  }),
  [ENV.secretsExtensionPort]: setting(int(1, 65535), {
    doc: 'port of the AWS Parameters and Secrets Lambda extension: when set, `UPSTASH_SECRET_ARN` is read through it instead of the SDK (the CDK stack adds the extension and sets it)',
  }),
  [ENV.streamKey]: setting(nonEmpty, { default: 'events', doc: 'the Redis Stream' }),
  [ENV.consumerGroup]: setting(nonEmpty, { default: 'workers', doc: "the stream's consumer group" }),
  [ENV.consumerName]: setting(nonEmpty, {
    defaultNote: 'host-pid-random',
    doc: "this consumer's name in the group (must be unique per process)",
  }),
  [ENV.consumerMode]: setting(z.enum(['scheduled', 'continuous'], { error: 'must be scheduled or continuous' }), {
    default: 'scheduled',
    doc: '`scheduled`: drain until empty; `continuous`: keep reading until the time budget ends',
  }),
  [ENV.batchSize]: setting(int(1, 1000), { default: '100', unit: 'entries', doc: 'entries per read / claim' }),
  [ENV.blockMs]: setting(int(0, 60_000), {
    default: '5000',
    unit: 'ms',
    doc: 'XREADGROUP BLOCK in continuous mode (Upstash cannot block: it polls with back-off)',
  }),
  [ENV.maxAttempts]: setting(int(1, 100), {
    default: '3',
    unit: 'attempts',
    doc: 'processing attempts (the first one included) before an event is dead-lettered',
  }),
  [ENV.retryBaseMs]: setting(int(1, 3_600_000), {
    default: '2000',
    unit: 'ms',
    doc: 'backoff base: attempt n+1 waits base × 2^(n−1) after delivery n',
  }),
  [ENV.futureSkewMs]: setting(int(0, 86_400_000), {
    default: '300000',
    unit: 'ms',
    doc: 'how far in the future a timestamp may be',
  }),
  [ENV.reconcileGraceMs]: setting(int(1000, 86_400_000), {
    default: '60000',
    unit: 'ms',
    doc: 'how long a raw event may wait with no stream entry before the reconciler republishes it',
  }),
  [ENV.reconcileIdleIntervalMs]: setting(int(1000, 86_400_000), {
    default: '3600000',
    unit: 'ms',
    doc: 'with no stream activity, reconcile only this often (the consumer then makes no SQL call at rest, so Aurora can auto-pause)',
  }),
  [ENV.timeMarginMs]: setting(int(0, 600_000), {
    default: '10000',
    unit: 'ms',
    doc: 'the consumer takes no new batch with less Lambda time left',
  }),
  [ENV.maintenanceIntervalMs]: setting(int(100, 3_600_000), {
    default: '10000',
    unit: 'ms',
    doc: 'how often a consumer drains the fallback queue, reconciles, trims and reports gauges',
  }),
  [ENV.backpressureMaxLag]: setting(int(0, 1_000_000_000), {
    default: '100000',
    unit: 'entries',
    doc: 'ingest answers 429 with `Retry-After` while more entries than this wait undelivered (`0`: never)',
  }),
  [ENV.backpressureMaxAgeMs]: setting(int(0, 86_400_000), {
    default: '600000',
    unit: 'ms',
    doc: 'ingest answers 429 while the oldest unacknowledged entry is older than this (`0`: never)',
  }),
  [ENV.backpressureStatsTtlMs]: setting(int(100, 60_000), {
    default: '1000',
    unit: 'ms',
    doc: 'how long ingest reuses the stream stats the backpressure check reads (one Redis call per interval, not per request)',
  }),
  [ENV.dlqUrl]: setting(url, {
    doc: 'SQS queue that receives a copy of every dead letter (with `event_id`, `error_type`, `attempts` attributes)',
  }),
  [ENV.ingestFallbackQueueUrl]: setting(url, { doc: 'SQS queue that accepts events while Postgres is unreachable' }),
  [ENV.sqsEndpoint]: setting(url, { defaultNote: "AWS's", doc: 'an SQS endpoint URL (the local one)' }),
  [ENV.adminToken]: setting(z.string().check(z.minLength(16, { error: 'must be at least 16 characters' })), {
    doc: '≥ 16 chars; enables `x-admin-token` on `/admin/*` (in AWS those routes use IAM auth instead)',
  }),
  [ENV.listenHost]: setting(nonEmpty, {
    default: '127.0.0.1',
    doc: 'address the local server listens on (`0.0.0.0`: every interface, e.g. in a container)',
  }),
  [ENV.port]: setting(int(0, 65_535), { default: '3000', doc: 'local server port (`0`: any free port)' }),
  [ENV.serviceName]: setting(z.string(), { default: 'eventflow', doc: 'service name in logs and metrics' }),
  [ENV.metricsNamespace]: setting(z.string(), { default: 'EventFlow', doc: 'CloudWatch metrics namespace' }),
  [ENV.logLevel]: setting(
    z.pipe(
      z.string().check(
        z.refine((level) => (LOG_LEVELS as readonly string[]).includes(level.toUpperCase()), {
          error: `must be one of ${LOG_LEVELS.join(', ').toLowerCase()}`,
        }),
      ),
      z.transform((level) => level.toUpperCase() as (typeof LOG_LEVELS)[number]),
    ),
    { default: 'INFO', doc: '`trace`, `debug`, `info`, `warn`, `error`, `critical` or `silent` (any case)' },
  ),
} satisfies Record<EnvKey, z.ZodMiniType>;

const settingsSchema = z.object(settings);

/** The parsed variables, by name. */
export type Settings = z.output<typeof settingsSchema>;

/** README's and `.env.example`'s view of every setting, in order. */
export function settingDocList(): Array<SettingDoc & { readonly name: EnvKey }> {
  return (Object.keys(settings) as EnvKey[]).map((name) => ({ name, ...(settingDocs.get(settings[name]) as SettingDoc) }));
}

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
