// Structured JSON logging: the Powertools logger for handlers and the local runner, and an in-memory one for tests.
// Must never log with console.log strings, nor let a mistyped level fall back silently to the default.
import { LogLevelThreshold, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../ports.ts';

type PowertoolsOptions = NonNullable<ConstructorParameters<typeof PowertoolsLogger>[0]>;
type PowertoolsLevel = NonNullable<PowertoolsOptions['logLevel']>;

export interface LoggerOptions {
  readonly serviceName: string;
  /** debug | info | warn | error (any case; Powertools also knows trace, critical, silent). Default: POWERTOOLS_LOG_LEVEL, else INFO. */
  readonly level?: string;
  /** Keys added to every entry (e.g. stage, function version). */
  readonly persistentKeys?: Record<string, unknown>;
}

/** Powertools ignores an unknown level and logs at INFO; a typo in LOG_LEVEL should fail the cold start instead. */
function checkedLevel(level: string): PowertoolsLevel {
  const upper = level.toUpperCase();
  if (!Object.hasOwn(LogLevelThreshold, upper)) {
    throw new RangeError(`Unknown log level "${level}": use one of ${Object.keys(LogLevelThreshold).join(', ').toLowerCase()}`);
  }
  return upper as PowertoolsLevel;
}

/** A Powertools logger: one JSON object per line on stdout/stderr, with service, level, timestamp and the extra keys. */
export function createLogger(options: LoggerOptions): Logger & PowertoolsLogger {
  const logger = new PowertoolsLogger({
    serviceName: options.serviceName,
    ...(options.level === undefined ? {} : { logLevel: checkedLevel(options.level) }),
    // Powertools' type forbids reserved keys (message, level, …) at compile time; at run time it drops them with a warning.
    ...(options.persistentKeys === undefined
      ? {}
      : { persistentKeys: options.persistentKeys as NonNullable<PowertoolsOptions['persistentKeys']> }),
  });
  // The port's `extra?` may be undefined, which Powertools' tuple types do not spell out; at run time it
  // skips undefined extras (logger.info('x', undefined) logs just 'x'), so the port is honoured.
  return logger as Logger & PowertoolsLogger;
}

/**
 * A logger that adds `keys` to every entry it writes, leaving `logger` as it was. Per-request context
 * (the correlation id) goes through this, never through Powertools' `appendKeys`: that mutates the one
 * shared logger, so concurrent requests on the local server would log each other's ids.
 */
export function withLogKeys(logger: Logger, keys: Readonly<Record<string, unknown>>): Logger {
  const bind = (level: keyof Logger) =>
    function logWithKeys(message: string, extra?: Record<string, unknown>): void {
      logger[level](message, { ...keys, ...extra });
    };
  return { debug: bind('debug'), info: bind('info'), warn: bind('warn'), error: bind('error') };
}

/**
 * `text` with the credentials of every URL in it masked: the password of `scheme://user:password@host`
 * and `password=`/`token=` query parameters become `***`. The one helper for anything that may print a
 * connection string (start-up banner, start-up errors, logs): DATABASE_URL and REDIS_URL carry secrets.
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s/?#@]*@/gi, '$1:***@')
    .replace(/([?&](?:password|pass|pwd|token|secret|api[_-]?key)=)[^&#\s]*/gi, '$1***');
}

export type LogEntryLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEntry {
  readonly level: LogEntryLevel;
  readonly message: string;
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface QuietLogger {
  readonly logger: Logger;
  /** Every call, in order, at every level. */
  readonly entries: LogEntry[];
}

/** A logger for tests: writes nothing, keeps every entry so a test can assert on what was logged. */
export function createQuietLogger(): QuietLogger {
  const entries: LogEntry[] = [];
  function record(level: LogEntryLevel) {
    return function log(message: string, extra?: Record<string, unknown>): void {
      entries.push({ level, message, extra: { ...extra } });
    };
  }
  return {
    entries,
    logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
  };
}
