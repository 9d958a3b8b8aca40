// The deployment's knobs: reads CDK context (`-c key=value` or cdk.json), applies defaults, validates.
// Must never touch AWS or build constructs; a bad value throws one error with one line per bad key.
import type { Node } from 'constructs';

export type RedisBackend = 'upstash' | 'elasticache';
export type ConsumerMode = 'scheduled' | 'continuous';
export type RemovalChoice = 'retain' | 'destroy';
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** LocalStack wiring: where the Lambdas (inside LocalStack's containers) find the local protocol endpoints. */
export interface LocalEndpoints {
  readonly dataApiEndpoint: string;
  readonly upstashUrl: string;
  readonly upstashToken: string;
}

export interface EventFlowConfig {
  readonly stage: string;
  readonly redisBackend: RedisBackend;
  readonly consumerMode: ConsumerMode;
  readonly workers: number;
  /** Reserved concurrent executions for the consumer; undefined (the default) reserves none. */
  readonly consumerReservedConcurrency?: number;
  /** Minutes between consumer ticks (EventBridge rate). */
  readonly consumerScheduleMinutes: number;
  readonly batchSize: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly minAcu: number;
  readonly maxAcu: number;
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
  /** Requests per key per day; 0 means the usage plan has no quota. */
  readonly apiQuotaPerDay: number;
  /**
   * One API key and usage plan per name; each raw event records its key's id as its producer. Empty
   * (the default): one shared producer key, as before producers existed.
   */
  readonly producers: readonly string[];
  readonly alarmEmail?: string;
  readonly removalPolicy: RemovalChoice;
  readonly upstashSecretName: string;
  readonly logLevel: LogLevel;
  /** Set when context localstack=true: the stack then skips what LocalStack's free image cannot run. */
  readonly local?: LocalEndpoints;
}

/** Every context key the app reads, with its default, in the order docs/DEPLOY.md lists them. */
export const CONTEXT_DEFAULTS = {
  stage: 'dev',
  redisBackend: 'upstash',
  consumerMode: 'scheduled',
  workers: 2,
  consumerReservedConcurrency: undefined, // none: a new account (concurrency limit 10) can deploy
  consumerScheduleMinutes: 1,
  batchSize: 100,
  maxAttempts: 3,
  retryBaseMs: 2000,
  minAcu: 0,
  maxAcu: 4,
  apiRateLimit: 100,
  apiBurstLimit: 200,
  apiQuotaPerDay: 1_000_000,
  producers: undefined, // none: one shared API key and usage plan
  alarmEmail: undefined,
  removalPolicy: undefined, // retain for stage "prod", destroy otherwise
  upstashSecretName: undefined, // eventflow/<stage>/upstash
  logLevel: 'INFO',
  localstack: false,
  localDataApiEndpoint: 'http://host.docker.internal:8080',
  localUpstashUrl: 'http://host.docker.internal:8079',
  localUpstashToken: 'local-token',
} as const;

export type ContextKey = keyof typeof CONTEXT_DEFAULTS;

/**
 * Thrown for bad context. The message has one line per offending key, naming it, what it accepts and
 * how to set it; bin/eventflow.ts prints just that (no stack trace).
 */
export class ContextError extends Error {
  override readonly name = 'ContextError';
}

type Lookup = (key: ContextKey) => unknown;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly lookup: Lookup) {}

  private raw(key: ContextKey): unknown {
    const value = this.lookup(key);
    // `-c key=` on the command line arrives as an empty string: treat it as "not given".
    return value === undefined || value === null || value === '' ? undefined : value;
  }

  private bad(key: ContextKey, value: unknown, expected: string): undefined {
    this.problem(key, `${expected} (got ${JSON.stringify(value)})`);
    return undefined;
  }

  /** One line: the key, the rule it broke, and where to fix it. */
  problem(key: ContextKey, text: string): void {
    this.problems.push(
      `context "${key}" ${text}: set -c ${key}=<value> or "${key}" in cdk.json "context" (docs/DEPLOY.md, Configuration)`,
    );
  }

  /** Like number(), but no value at all is a valid choice (the option is off). */
  optionalNumber(key: ContextKey, min: number, max: number): number | undefined {
    if (this.raw(key) === undefined) return undefined;
    const before = this.problems.length;
    const n = this.number(key, min, min, max);
    // A bad value is reported once, here, and then treated as not given (no follow-up complaints).
    return this.problems.length > before ? undefined : n;
  }

  oneOf<T extends string>(key: ContextKey, allowed: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    return this.bad(key, value, `must be one of ${allowed.join(' | ')}`) ?? fallback;
  }

  /** Numbers arrive as strings from `-c`, as numbers from cdk.json. `step` 0.5 allows half ACUs. */
  number(key: ContextKey, fallback: number, min: number, max: number, step = 1): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim())
          ? Number(value)
          : Number.NaN;
    const what = step === 1 ? 'a whole number' : `a multiple of ${step}`;
    if (!Number.isFinite(n) || n < min || n > max || Math.round(n / step) * step !== n) {
      return this.bad(key, value, `must be ${what} from ${min} to ${max}`) ?? fallback;
    }
    return n;
  }

  boolean(key: ContextKey, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    return this.bad(key, value, 'must be true or false') ?? fallback;
  }

  /**
   * A list of names: an array in cdk.json, or comma-separated with `-c key=a,b`. Each must match
   * `pattern`; no name twice; at most `max` of them.
   */
  names(key: ContextKey, pattern: RegExp, expected: string, max: number): string[] {
    const value = this.raw(key);
    if (value === undefined) return [];
    const list = typeof value === 'string' ? value.split(',').map((name) => name.trim()) : value;
    if (!Array.isArray(list) || list.length === 0) return this.bad(key, value, `must be a list of names (${expected})`) ?? [];
    const wrong = list.find((name) => typeof name !== 'string' || !pattern.test(name));
    if (wrong !== undefined) return this.bad(key, wrong, `must list names that are ${expected}`) ?? [];
    const twice = list.find((name, i) => list.indexOf(name) !== i);
    if (twice !== undefined) return this.bad(key, twice, 'must not list a name twice') ?? [];
    if (list.length > max) return this.bad(key, value, `must list at most ${max} names`) ?? [];
    return list as string[];
  }

  string(key: ContextKey, fallback: string, pattern: RegExp, expected: string): string;
  string(key: ContextKey, fallback: undefined, pattern: RegExp, expected: string): string | undefined;
  string(key: ContextKey, fallback: string | undefined, pattern: RegExp, expected: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value === 'string' && pattern.test(value)) return value;
    return this.bad(key, value, expected) ?? fallback;
  }
}

const URL_PATTERN = /^https?:\/\/[^\s/]+(:\d+)?(\/\S*)?$/;

/**
 * Builds the configuration from a lookup (normally `node.tryGetContext`). Collects every problem
 * before throwing, so one failed synth shows all the bad keys at once.
 */
export function resolveConfig(lookup: Lookup): EventFlowConfig {
  const r = new Reader(lookup);
  const d = CONTEXT_DEFAULTS;
  // The stage names the stack, the metrics service and the secret: keep it short and DNS-like.
  const stage = r.string(
    'stage',
    d.stage,
    /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$/,
    'must be lowercase letters, digits or single "-" between them, start with a letter, at most 20 characters',
  );
  const redisBackend = r.oneOf<RedisBackend>('redisBackend', ['upstash', 'elasticache'], d.redisBackend);
  const consumerMode = r.oneOf<ConsumerMode>('consumerMode', ['scheduled', 'continuous'], d.consumerMode);
  const workers = r.number('workers', d.workers, 1, 100);
  // Opt-in: Lambda keeps 100 executions unreserved, so any reservation fails in a new account whose
  // total limit is 10. Without one, the consumer shares the account's pool (see docs/DEPLOY.md).
  const consumerReservedConcurrency = r.optionalNumber('consumerReservedConcurrency', 1, 1000);
  const consumerScheduleMinutes = r.number('consumerScheduleMinutes', d.consumerScheduleMinutes, 1, 60);
  // Ranges match lambdas/config/config.ts, so a value the stack accepts never fails the Lambda's cold start.
  const batchSize = r.number('batchSize', d.batchSize, 1, 1000);
  const maxAttempts = r.number('maxAttempts', d.maxAttempts, 1, 100);
  const retryBaseMs = r.number('retryBaseMs', d.retryBaseMs, 1, 3_600_000);
  const minAcu = r.number('minAcu', d.minAcu, 0, 256, 0.5);
  const maxAcu = r.number('maxAcu', d.maxAcu, 1, 256, 0.5);
  const apiRateLimit = r.number('apiRateLimit', d.apiRateLimit, 1, 10_000);
  const apiBurstLimit = r.number('apiBurstLimit', d.apiBurstLimit, 1, 5_000);
  const apiQuotaPerDay = r.number('apiQuotaPerDay', d.apiQuotaPerDay, 0, 1_000_000_000);
  // Names become construct ids and usage plan names (never change one once deployed); a usage plan
  // each, and an account has 300 per region by default.
  const producers = r.names(
    'producers',
    /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,31}$/,
    'lowercase letters, digits or single "-" between them, starting with a letter, at most 32 characters',
    100,
  );
  const alarmEmail = r.string('alarmEmail', undefined, /^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an email address');
  const removalPolicy = r.oneOf<RemovalChoice>('removalPolicy', ['retain', 'destroy'], stage === 'prod' ? 'retain' : 'destroy');
  // Secrets Manager reads a name ending in "-" plus six characters as a full ARN's random suffix, so
  // such a name given as a partial ARN would not be found.
  const upstashSecretName = r.string(
    'upstashSecretName',
    `eventflow/${stage}/upstash`,
    /^(?![A-Za-z0-9/_+=.@-]*-[A-Za-z0-9]{6}$)[A-Za-z0-9/_+=.@-]{1,512}$/,
    'must be a Secrets Manager secret name not ending in "-" and six letters or digits',
  );
  const logLevel = r.oneOf<LogLevel>('logLevel', ['DEBUG', 'INFO', 'WARN', 'ERROR'], d.logLevel);
  const localstack = r.boolean('localstack', d.localstack);
  const dataApiEndpoint = r.string('localDataApiEndpoint', d.localDataApiEndpoint, URL_PATTERN, 'must be an http(s) URL');
  const upstashUrl = r.string('localUpstashUrl', d.localUpstashUrl, URL_PATTERN, 'must be an http(s) URL');
  const upstashToken = r.string('localUpstashToken', d.localUpstashToken, /^\S+$/, 'must be a non-empty token');

  if (maxAcu < minAcu) r.problem('maxAcu', `must be at least minAcu (${minAcu}) (got ${maxAcu})`);
  if (apiBurstLimit < apiRateLimit) {
    // API Gateway accepts it, but a burst below the rate means the rate can never be reached.
    r.problem('apiBurstLimit', `must be at least apiRateLimit (${apiRateLimit}) (got ${apiBurstLimit})`);
  }
  const neededConcurrency = consumerConcurrencyNeeded(consumerMode, workers);
  if (consumerReservedConcurrency !== undefined && consumerReservedConcurrency < neededConcurrency) {
    // A smaller reservation would throttle some of each tick's invocations.
    r.problem(
      'consumerReservedConcurrency',
      `must be at least ${neededConcurrency} (${consumerMode === 'scheduled' ? 'workers' : '2 × workers'} in ${consumerMode} mode) (got ${consumerReservedConcurrency})`,
    );
  }
  if (consumerMode === 'continuous' && consumerScheduleMinutes !== 1) {
    // Continuous readers live ~70 s and must overlap the next tick; a longer interval leaves gaps.
    r.problem('consumerScheduleMinutes', `must be 1 in continuous mode (got ${consumerScheduleMinutes})`);
  }
  if (localstack && redisBackend === 'elasticache') {
    r.problem('redisBackend', "must be upstash when localstack=true (LocalStack's free image has no ElastiCache)");
  }
  if (r.problems.length > 0) throw new ContextError(r.problems.join('\n'));
  return {
    stage,
    redisBackend,
    consumerMode,
    workers,
    ...(consumerReservedConcurrency === undefined ? {} : { consumerReservedConcurrency }),
    consumerScheduleMinutes,
    batchSize,
    maxAttempts,
    retryBaseMs,
    minAcu,
    maxAcu,
    apiRateLimit,
    apiBurstLimit,
    apiQuotaPerDay,
    producers,
    ...(alarmEmail ? { alarmEmail } : {}),
    removalPolicy,
    upstashSecretName,
    logLevel,
    ...(localstack ? { local: { dataApiEndpoint, upstashUrl, upstashToken } } : {}),
  };
}

/** Concurrent consumer executions one tick needs: `workers`, or twice that when ticks overlap (continuous). */
export function consumerConcurrencyNeeded(mode: ConsumerMode, workers: number): number {
  return mode === 'scheduled' ? workers : 2 * workers;
}

/** The configuration from a construct tree's context (the App's, in bin/eventflow.ts). */
export function configFromContext(node: Node): EventFlowConfig {
  return resolveConfig((key) => node.tryGetContext(key));
}
