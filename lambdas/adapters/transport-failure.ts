// The one test for "we could not reach it (or it told us to back off)", shared by every adapter so a
// network blip is DependencyUnavailableError everywhere. Must never call a refused statement unreachable.

/** What a transport failure says beyond "try again later". */
export interface TransportFailure {
  /** Aurora Serverless v2 is waking from auto-pause: up again within seconds. */
  readonly resuming: boolean;
}

// Node's socket, DNS and TLS-handshake errors, and undici's (fetch). A failed TLS handshake means
// we never reached the service either: a valid event must not be dead-lettered because of it.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'ENOTCONN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EADDRNOTAVAIL',
  'EPROTO',
  'ABORT_ERR',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
const NETWORK_CODE_PREFIXES = ['UND_ERR_', 'ERR_SSL_'];

// Error names that mean "timed out, aborted, throttled or the service is unwell": Node/DOM
// (AbortSignal.timeout → TimeoutError, abort → AbortError, which is also how a deadline ends an AWS
// SDK call), the AWS SDK's throttling/timeout/5xx names (SQS, RDS Data API, Secrets Manager), and
// the Data API's own "not available right now" answers.
const UNAVAILABLE_NAMES = new Set([
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'SlowDown',
  'KmsThrottled',
  'OverLimit',
  'ServiceUnavailable',
  'ServiceUnavailableError',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServerErrorException',
  'InternalServiceError',
  'InternalServiceErrorException',
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'DatabaseNotFoundException', // "the DB cluster is not available" while it starts
  'StatementTimeoutException',
  'UpstashJSONParseError', // a gateway's HTML page (502/503) where Redis's JSON should be
]);

// Messages of the drivers' own transport failures (pg, ioredis, @upstash/redis, fetch) and of
// Redis/gateway answers meaning "not now", for errors that carry no code.
const UNAVAILABLE_MESSAGE = new RegExp(
  [
    // pg
    'Connection terminated',
    'connection timeout',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error',
    'not queryable',
    'Query read timeout',
    // ioredis
    'Connection is closed',
    'max retries per request',
    'MaxRetriesPerRequest',
    'enableOfflineQueue',
    'Command timed out',
    // Redis replies: loading, busy script, replica without master, cluster reconfiguring
    '^LOADING\\b',
    '^BUSY\\b',
    '^MASTERDOWN\\b',
    '^TRYAGAIN\\b',
    '^CLUSTERDOWN\\b',
    // fetch / HTTP gateways
    'fetch failed',
    'socket hang up',
    'Too Many Requests',
    'Service Unavailable',
    'Bad Gateway',
    'Gateway Timeout',
    'Communications link failure', // Aurora behind the Data API, connection dropped
    'max (daily )?requests? limit exceeded', // Upstash's rate limit
  ].join('|'),
  'i',
);

interface ErrorShape {
  name?: unknown;
  status?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: { throttling?: unknown };
}

const MAX_DEPTH = 8;

/**
 * A transport failure anywhere in `error`, its `cause` chain or an AggregateError's `errors` (Node
 * reports a failed dual-stack connect as one), or undefined. Knows Node's network codes, timeouts
 * and aborts, the AWS SDKs' throttling/timeout/5xx answers, Aurora resuming, and the drivers' messages.
 */
export function transportFailure(error: unknown): TransportFailure | undefined {
  const seen = new Set<unknown>();
  let found = false;
  let resuming = false;
  const visit = (value: unknown, depth: number): void => {
    if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || seen.has(value)) return;
    seen.add(value);
    const err = value as ErrorShape;
    const name = typeof err.name === 'string' ? err.name : '';
    const code = typeof err.code === 'string' ? err.code : '';
    const message = typeof err.message === 'string' ? err.message : '';
    // The AWS SDK reports the HTTP status in $metadata; fetch-based clients (Upstash) as `status`.
    const status =
      typeof err.$metadata?.httpStatusCode === 'number'
        ? err.$metadata.httpStatusCode
        : typeof err.status === 'number'
          ? err.status
          : undefined;
    if (name === 'DatabaseResumingException') resuming = true;
    if (
      UNAVAILABLE_NAMES.has(name) ||
      NETWORK_CODES.has(code) ||
      NETWORK_CODE_PREFIXES.some((prefix) => code.startsWith(prefix)) ||
      status === 429 ||
      (status !== undefined && status >= 500) ||
      err.$fault === 'server' ||
      err.$retryable?.throttling === true ||
      UNAVAILABLE_MESSAGE.test(message)
    ) {
      found = true;
    }
    if (Array.isArray(err.errors)) for (const inner of err.errors) visit(inner, depth + 1);
    visit(err.cause, depth + 1);
  };
  visit(error, 0);
  return found ? { resuming } : undefined;
}

/** The error's message for a log line or a wrapping error (never the error object's other fields). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    if (error.message) return error.message;
    // An AggregateError from a failed dual-stack connect has an empty message: show its parts.
    const parts = Array.isArray((error as { errors?: unknown }).errors) ? (error as AggregateError).errors : [];
    const inner = parts.map((part: unknown) => (part instanceof Error ? part.message : String(part))).filter(Boolean);
    return inner.length > 0 ? `${error.name}: ${inner.join('; ')}` : error.name;
  }
  return String(error);
}
