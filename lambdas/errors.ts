// Error types every layer shares. Adapters translate SDK/driver errors into these, so the pipeline
// decides retry-or-not and the HTTP layer decides the status code without knowing any SDK.

export type Dependency = 'database' | 'stream' | 'queue';

/**
 * A dependency could not be reached or asked us to back off (connection refused, timeout, Aurora
 * resuming, throttling). Transient: the same call may succeed later.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  readonly retryable = true;
  /** The database is waking from auto-pause (Aurora Serverless v2): up again within seconds. */
  readonly resuming: boolean;
  constructor(
    readonly dependency: Dependency,
    message: string,
    options?: { cause?: unknown; resuming?: boolean },
  ) {
    super(message, options);
    this.resuming = options?.resuming ?? false;
  }
}

/** The stream or its consumer group no longer exists (Redis restarted empty, flushed, key deleted). */
export class StreamGroupMissingError extends Error {
  override readonly name = 'StreamGroupMissingError';
}

/** The database rejected a statement (syntax, constraint, type). Not a reason to try elsewhere. */
export class SqlStatementError extends Error {
  override readonly name = 'SqlStatementError';
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Invalid configuration; the message names the variable. Thrown at cold start. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** True for errors a retry may cure. Unknown errors count as transient: a retry costs little. */
export function isTransient(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError) return true;
  if (error instanceof SqlStatementError) return false;
  return true;
}

/** The short type name recorded as error_type (metrics label, failed_events column). */
export function errorType(error: unknown): string {
  if (error instanceof Error) return error.name || 'Error';
  return 'UnknownError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
