// Every setting EventFlow reads, as one zod schema: each one's rule, default, unit and meaning are
// written once, here (README's table and .env.example are checked against it). No I/O.
import * as z from 'zod/mini';
import { ENV, type EnvKey } from './keys.ts';

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
/** A producer's name: what raw_events.producer and the metrics' `producer` label record locally. */
export const PRODUCER_NAME = /^[a-z][a-z0-9-]{0,63}$/;

/** `name:key,name:key` → name → key. Keys are secrets: an issue names the producer, never the key. */
const producerKeys = z.pipe(
  z.string(),
  z.transform((text: string, payload) => {
    const keys = new Map<string, string>();
    const problem = (message: string) => {
      payload.issues.push({ code: 'custom', message, input: '(not shown)' });
    };
    for (const [index, pair] of text.split(',').entries()) {
      const colon = pair.indexOf(':');
      const name = pair.slice(0, Math.max(colon, 0)).trim();
      const key = pair.slice(colon + 1).trim();
      // A malformed entry may be a key written in the wrong place: it is named by position, never shown.
      if (colon < 0) {
        problem(`entry ${index + 1} is not name:key (format name:key,name:key)`);
      } else if (!PRODUCER_NAME.test(name)) {
        problem(`entry ${index + 1}: a producer name is lowercase letters, digits and "-", starting with a letter`);
      } else if (key.length < 16 || /\s/.test(key)) {
        problem(`the key of "${name}" must be at least 16 characters without spaces (format name:key,name:key)`);
      } else if (keys.has(name)) {
        problem(`"${name}" is listed twice`);
      } else if ([...keys.values()].includes(key)) {
        problem(`"${name}" has the same key as another producer`);
      } else {
        keys.set(name, key);
      }
    }
    return keys as ReadonlyMap<string, string>;
  }),
);

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

/** Every variable EventFlow reads, keyed by its name (keys.ts), in README's order. */
const settings = {
  [ENV.sqlDriver]: setting(z.enum(['pglite', 'pg', 'data-api'], { error: 'must be pglite, pg or data-api' }), {
    defaultNote: '`pg` if `DATABASE_URL` is set, else `pglite`',
    doc: '`pglite` (embedded), `pg` (direct / RDS Proxy), `data-api` (Aurora via the RDS Data API)',
  }),
  [ENV.databaseUrl]: setting(
    z.string().check(
      z.regex(/^postgres(ql)?:\/\//, { error: 'must be a postgres:// URL' }),
      // Checked here so no later `new URL()` can fail on it and print it, password included.
      z.refine((value) => URL.canParse(value), { error: 'is not a valid URL (check the host, port and escaping)' }),
    ),
    {
      doc: 'Postgres URL for `pg`; for local `data-api` mode, the database the local endpoint sits on',
    },
  ),
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
  [ENV.redisUrl]: setting(
    z.string().check(
      z.regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' }),
      z.refine((value) => URL.canParse(value), { error: 'is not a valid URL (check the host, port and escaping)' }),
    ),
    {
      default: 'redis://127.0.0.1:6379',
      doc: 'Redis for `ioredis` (`rediss://` for TLS)',
    },
  ),
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
  [ENV.producerKeys]: setting(producerKeys, {
    doc: '`name:key,name:key` (keys ≥ 16 chars), for the local server: the routes API Gateway keys (not `/admin/*`) then need a listed `x-api-key`, and its name is recorded as each event\'s producer (README, "Producers"; in AWS the API key id is)',
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

export const settingsSchema = z.object(settings);

/** The parsed variables, by name. */
export type Settings = z.output<typeof settingsSchema>;

/** README's and `.env.example`'s view of every setting, in order. */
export function settingDocList(): Array<SettingDoc & { readonly name: EnvKey }> {
  return (Object.keys(settings) as EnvKey[]).map((name) => ({ name, ...(settingDocs.get(settings[name]) as SettingDoc) }));
}
