// The original (Python) EventFlow's environment names, read as aliases of ours so that its env files keep
// working. Pure: config.ts applies them before parsing and reports the notices; nothing here reads process.env.
import { ENV, type EnvKey } from './keys.ts';

/** One of the original's names: what it becomes here, or why it is ignored. */
export interface Alias {
  /** The original's name. Matched in any case, as the original (pydantic-settings) did. */
  readonly name: string;
  /** Our variable it sets; absent when it has no equivalent and is only acknowledged. */
  readonly ours?: EnvKey;
  /** Turns the original's value into ours (unit or meaning), or explains what is wrong with it. */
  readonly convert?: (value: string) => { readonly value: string } | { readonly error: string };
  /** For a conversion, what it does; for an ignored name, why: printed in the notice and in README. */
  readonly why?: string;
}

const wholeNumber = /^\d+$/;

// Python's level names that Powertools spells differently.
const PYTHON_LEVELS: Record<string, string> = { WARNING: 'WARN', FATAL: 'CRITICAL' };

/** The original's names (../shared/reference/SEED-API.md), in its order. */
export const ORIGINAL_ALIASES: readonly Alias[] = [
  // Same names as ours: listed so that the original's lower-case spellings (database_url=…) are still read.
  { name: 'DATABASE_URL', ours: ENV.databaseUrl },
  { name: 'REDIS_URL', ours: ENV.redisUrl },
  { name: 'REDIS_STREAM_NAME', ours: ENV.streamKey },
  { name: 'REDIS_CONSUMER_GROUP', ours: ENV.consumerGroup },
  { name: 'REDIS_BLOCK_MS', ours: ENV.blockMs },
  { name: 'WORKER_ID', ours: ENV.consumerName, why: 'it must differ between consumers running at the same time' },
  {
    name: 'MAX_RETRIES',
    ours: ENV.maxAttempts,
    why: 'the original counted retries after the first attempt; MAX_ATTEMPTS counts attempts',
    convert: (value) => (wholeNumber.test(value) ? { value: String(Number(value) + 1) } : { error: 'must be a whole number' }),
  },
  {
    name: 'RETRY_DELAY_SECONDS',
    ours: ENV.retryBaseMs,
    why: 'seconds to milliseconds',
    convert: (value) =>
      /^\d+(\.\d+)?$/.test(value)
        ? { value: String(Math.round(Number(value) * 1000)) }
        : { error: 'must be a number of seconds' },
  },
  { name: 'BATCH_SIZE', ours: ENV.batchSize },
  {
    name: 'PROCESSING_TIMEOUT_SECONDS',
    why: 'there is no per-event timeout: an entry whose consumer stopped is claimed again after the retry backoff (RETRY_BASE_MS), and the Lambda timeout bounds a batch',
  },
  {
    name: 'LOG_LEVEL',
    ours: ENV.logLevel,
    why: "Python's level names: WARNING is WARN, FATAL is CRITICAL",
    convert: (value) => ({ value: PYTHON_LEVELS[value.toUpperCase()] ?? value }),
  },
  { name: 'API_HOST', ours: ENV.listenHost },
  { name: 'API_PORT', ours: ENV.port },
  {
    name: 'METRICS_PORT',
    why: 'the local server serves Prometheus text at GET /metrics on its own port (PORT); in AWS, metrics go to CloudWatch',
  },
];

/** The environment with the aliases applied, what to tell the operator, and which of our names came from an alias. */
export interface AliasResult {
  readonly env: Record<string, string>;
  readonly notices: readonly string[];
  readonly errors: readonly string[];
  /** Our name → how to name it in an error when its value came from an alias (`MAX_RETRIES=200 (read as MAX_ATTEMPTS=201)`). */
  readonly origins: ReadonlyMap<string, string>;
}

/**
 * Reads the original's names from `present` (unset and empty values already removed). Ours win when both are set.
 * Our own names stay case-sensitive; only the original's are matched in any case.
 */
export function applyAliases(
  present: Readonly<Record<string, string>>,
  aliases: readonly Alias[] = ORIGINAL_ALIASES,
): AliasResult {
  const env: Record<string, string> = { ...present };
  const notices: string[] = [];
  const errors: string[] = [];
  const origins = new Map<string, string>();
  const keys = Object.keys(present);
  for (const alias of aliases) {
    // Our own exact name is not an alias of itself (DATABASE_URL, REDIS_URL, BATCH_SIZE).
    const spellings = keys.filter((key) => key.toUpperCase() === alias.name && key !== alias.ours);
    const spelling = spellings.includes(alias.name) ? alias.name : spellings[0];
    if (spelling === undefined) continue;
    const raw = present[spelling] as string;
    if (!alias.ours) {
      notices.push(`${spelling} (the original's) is ignored: ${alias.why}`);
      continue;
    }
    if (present[alias.ours] !== undefined) {
      notices.push(`${spelling} (the original's) is ignored: ${alias.ours} is set too, and wins`);
      continue;
    }
    const converted = alias.convert ? alias.convert(raw) : { value: raw };
    if ('error' in converted) {
      errors.push(`${spelling}: ${converted.error}`);
      continue;
    }
    env[alias.ours] = converted.value;
    // Values are shown only when converted (numbers, levels): a URL may carry a password.
    origins.set(
      alias.ours,
      alias.convert ? `${spelling}=${raw} (read as ${alias.ours}=${converted.value})` : `${spelling} (read as ${alias.ours})`,
    );
    notices.push(
      alias.convert
        ? `${spelling}=${raw} (the original's) is read as ${alias.ours}=${converted.value}: ${alias.why}`
        : `${spelling} (the original's name) is read as ${alias.ours}${alias.why ? `: ${alias.why}` : ''}`,
    );
  }
  return { env, notices, errors, origins };
}
