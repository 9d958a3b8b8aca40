// One table of "could not reach it" errors fed through every adapter's classifier: each must call
// every one of them DependencyUnavailableError for its own dependency, and none of the others.
import { describe, expect, it } from 'vitest';
import { classifySecretsError } from '../../lambdas/adapters/secrets.ts';
import { classifyPgError } from '../../lambdas/adapters/sql/classify-pg.ts';
import { classifyDataApiError } from '../../lambdas/adapters/sql/data-api.ts';
import { classifySqsError } from '../../lambdas/adapters/sqs/errors.ts';
import { classifyRedisError } from '../../lambdas/adapters/stream/classify-redis.ts';
import { classifyUpstashError, UpstashError, UpstashJSONParseError } from '../../lambdas/adapters/stream/upstash.ts';
import { transportFailure } from '../../lambdas/adapters/transport-failure.ts';
import { type Dependency, DependencyUnavailableError, isTransient, SqlStatementError } from '../../lambdas/errors.ts';

interface Classifier {
  readonly adapter: string;
  readonly dependency: Dependency;
  classify(error: unknown): Error;
}

const CLASSIFIERS: Classifier[] = [
  // PGlite uses the pg classifier: it speaks the same protocol and reports the same SQLSTATEs.
  { adapter: 'pg and PGlite', dependency: 'database', classify: classifyPgError },
  { adapter: 'RDS Data API', dependency: 'database', classify: classifyDataApiError },
  { adapter: 'ioredis', dependency: 'stream', classify: classifyRedisError },
  { adapter: 'Upstash', dependency: 'stream', classify: classifyUpstashError },
  { adapter: 'SQS', dependency: 'queue', classify: classifySqsError },
  { adapter: 'Secrets Manager', dependency: 'stream', classify: classifySecretsError },
];

const nodeError = (code: string, message = `connect ${code} 10.0.0.1:5432`) =>
  Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' });

const sdkError = (name: string, status: number, fault: 'client' | 'server', extra: object = {}) =>
  Object.assign(new Error(`${name}: the service said so`), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status, attempts: 1 },
    ...extra,
  });

/** Errors as the drivers and SDKs raise them when the other side was not reached or asked us to wait. */
const UNREACHABLE: Array<[string, () => unknown]> = [
  ...[
    'ECONNREFUSED',
    'ECONNRESET',
    'ECONNABORTED',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENETDOWN',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EADDRNOTAVAIL',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_SOCKET',
    'ERR_SOCKET_CONNECTION_TIMEOUT',
  ].map((code): [string, () => unknown] => [`Node ${code}`, () => nodeError(code)]),
  [
    'a dual-stack connect that failed on both addresses (AggregateError, empty message)',
    () => new AggregateError([nodeError('ECONNREFUSED', 'connect ECONNREFUSED ::1:5432'), nodeError('ENETUNREACH')]),
  ],
  ['fetch failed, caused by a reset socket', () => new TypeError('fetch failed', { cause: nodeError('ECONNRESET') })],
  [
    'a wrapper three causes deep',
    () => new Error('outer', { cause: new Error('middle', { cause: new Error('inner', { cause: nodeError('ECONNABORTED') }) }) }),
  ],
  [
    'an AggregateError inside a cause',
    () => new Error('pool', { cause: new AggregateError([nodeError('EADDRNOTAVAIL')], 'all attempts failed') }),
  ],
  ['AbortSignal.timeout (TimeoutError)', () => new DOMException('The operation was aborted due to timeout', 'TimeoutError')],
  [
    'an AWS SDK call ended by its abortSignal (AbortError caused by TimeoutError)',
    () =>
      Object.assign(new Error('Request aborted'), {
        name: 'AbortError',
        cause: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      }),
  ],
  ['the SDK socket timeout (TimeoutError)', () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' })],
  ['ThrottlingException', () => sdkError('ThrottlingException', 400, 'client', { $retryable: { throttling: true } })],
  ['TooManyRequestsException (429)', () => sdkError('TooManyRequestsException', 429, 'client')],
  ['RequestThrottled (SQS)', () => sdkError('RequestThrottled', 403, 'client')],
  ['KmsThrottled (SQS)', () => sdkError('KmsThrottled', 400, 'client')],
  ['ServiceUnavailable (503)', () => sdkError('ServiceUnavailable', 503, 'server')],
  ['InternalServerErrorException (500)', () => sdkError('InternalServerErrorException', 500, 'server')],
  ['an unmodelled 502 from a proxy', () => sdkError('Unknown', 502, 'server')],
  ['DatabaseResumingException (Aurora waking up)', () => sdkError('DatabaseResumingException', 400, 'client')],
  ['StatementTimeoutException', () => sdkError('StatementTimeoutException', 400, 'client')],
  [
    'Aurora dropped the connection behind the Data API (no SQLSTATE)',
    () =>
      Object.assign(sdkError('BadRequestException', 400, 'client'), {
        message: 'Communications link failure. The last packet sent successfully to the server was 0 milliseconds ago.',
      }),
  ],
  ['pg: Connection terminated unexpectedly', () => new Error('Connection terminated unexpectedly')],
  ['pg: connect timeout', () => new Error('timeout exceeded when trying to connect')],
  ['pg: query_timeout', () => new Error('Query read timeout')],
  ['ioredis: connection closed', () => new Error('Connection is closed.')],
  ['ioredis: command timeout', () => new Error('Command timed out')],
  [
    'ioredis: retries exhausted',
    () =>
      Object.assign(
        new Error('Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.'),
        { name: 'MaxRetriesPerRequestError' },
      ),
  ],
  ['Redis reply LOADING', () => new Error('LOADING Redis is loading the dataset in memory')],
  ['Redis reply MASTERDOWN', () => new Error('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no')],
  ['Redis reply TRYAGAIN', () => new Error('TRYAGAIN Multiple keys request during rehashing of slot')],
  [
    'Redis reply BUSY',
    () => new Error('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.'),
  ],
  ['a gateway page where JSON was expected (Upstash)', () => new UpstashJSONParseError('<html>502 Bad Gateway</html>', 502)],
  ['Upstash rate limit', () => new UpstashError('ERR max daily request limit exceeded', 400)],
];

/** Errors that are not about reaching the service: no adapter may call them an outage. */
const NOT_UNREACHABLE: Array<[string, () => unknown]> = [
  ['a plain Error', () => new Error('something unexpected')],
  ['a programming error', () => new TypeError("Cannot read properties of undefined (reading 'id')")],
  ['an SDK validation error', () => sdkError('InvalidParameterValue', 400, 'client')],
  ['an SDK access denied', () => sdkError('AccessDeniedException', 400, 'client')],
  ['a Redis type error', () => new Error('WRONGTYPE Operation against a key holding the wrong kind of value')],
  ['BUSYGROUP', () => new Error('BUSYGROUP Consumer Group name already exists')],
  ['a string thrown', () => 'ECONNREFUSED, but only text'],
];

describe.each(CLASSIFIERS)('$adapter classifies transport failures like every adapter', ({ dependency, classify }) => {
  it.each(UNREACHABLE)('%s → DependencyUnavailableError', (_label, make) => {
    const original = make();
    const error = classify(original);

    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe(dependency);
    expect(error.cause).toBe(original);
    expect(isTransient(error)).toBe(true);
  });

  it.each(NOT_UNREACHABLE)('%s → not DependencyUnavailableError', (_label, make) => {
    expect(classify(make())).not.toBeInstanceOf(DependencyUnavailableError);
  });

  it('keeps an error that is already classified', () => {
    const classified = new DependencyUnavailableError(dependency, 'down');
    expect(classify(classified)).toBe(classified);
  });
});

describe('transportFailure', () => {
  it('recognises every error of the table, and none of the others', () => {
    for (const [label, make] of UNREACHABLE) expect(transportFailure(make()), label).toBeDefined();
    for (const [label, make] of NOT_UNREACHABLE) expect(transportFailure(make()), label).toBeUndefined();
  });

  it('says when Aurora is resuming, also behind a cause', () => {
    const resuming = new Error('wrapped', { cause: sdkError('DatabaseResumingException', 400, 'client') });
    expect(transportFailure(resuming)).toEqual({ resuming: true });
    expect(transportFailure(nodeError('ECONNRESET'))).toEqual({ resuming: false });
  });

  it('stops on cause cycles', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    expect(transportFailure(a)).toBeUndefined();
  });
});

describe('SQL adapters: a refused statement is decided by its SQLSTATE, never by its text', () => {
  // The message may quote the row's data; an event must not make its own failure look like an outage.
  const refused = Object.assign(new Error('invalid input syntax for type uuid: "fetch failed Connection terminated"'), {
    code: '22P02',
    severity: 'ERROR',
  });

  it('pg and PGlite: SqlStatementError with the SQLSTATE', () => {
    expect(classifyPgError(refused)).toMatchObject({ name: 'SqlStatementError', code: '22P02' });
  });

  it('Data API: SqlStatementError with the SQLSTATE', () => {
    const error = sdkError('DatabaseErrorException', 400, 'client');
    error.message = 'ERROR: invalid input syntax for type uuid: "socket hang up"; SQLState: 22P02';
    expect(classifyDataApiError(error)).toMatchObject({ name: 'SqlStatementError', code: '22P02' });
  });

  it.each([
    ['08006', 'connection failure'],
    ['28P01', 'password authentication failed (a rotated secret)'],
    ['57P01', 'terminating connection due to administrator command'],
    ['53300', 'too many connections'],
    ['40P01', 'deadlock detected'],
  ])('SQLSTATE %s (%s) → DependencyUnavailableError', (code, message) => {
    const error = classifyPgError(Object.assign(new Error(message), { code, severity: 'FATAL' }));
    expect(error).toBeInstanceOf(DependencyUnavailableError);
  });

  it('a client-side error without SQLSTATE that is no transport failure stays a statement error', () => {
    expect(classifyPgError(new Error('SQL parameter :x was not given'))).toBeInstanceOf(SqlStatementError);
  });
});
