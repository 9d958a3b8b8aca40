// The migration trigger's retry rules: which Data API answers count as "not ready yet" (each built
// with the SDK's own exception classes and passed through the adapter's classifier, as the executor
// throws them), and that retries stop when the invocation's budget would run out.
import {
  AccessDeniedException,
  BadRequestException,
  DatabaseErrorException,
  DatabaseNotFoundException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ForbiddenException,
  HttpEndpointNotEnabledException,
  InternalServerErrorException,
  InvalidResourceStateException,
  RDSDataServiceException,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
} from '@aws-sdk/client-rds-data';
import { describe, expect, it } from 'vitest';
import { classifyDataApiError } from '../../lambdas/adapters/sql/data-api.ts';
import { DependencyUnavailableError, SqlStatementError } from '../../lambdas/errors.ts';
import { isTransientDeployError, retryWithinBudget } from '../../lambdas/migrate/wait-for-database.ts';

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode, requestId: 'req-1', attempts: 1 } });

/** Errors as the SDK raises them for the Data API's answers (status codes as the service sends them). */
const TRANSIENT: Record<string, () => unknown> = {
  // The Data API's "the DB cluster doesn't have a DB instance": the writer is still being created on a first deploy.
  DatabaseNotFoundException: () =>
    new DatabaseNotFoundException({ message: "The DB cluster doesn't have a DB instance", ...meta(404) }),
  DatabaseResumingException: () =>
    new DatabaseResumingException({
      message: 'The Aurora DB instance db-ABC is resuming after being auto-paused. Please wait a few seconds and try again.',
      ...meta(400),
    }),
  'BadRequestException: Communications link failure': () =>
    new BadRequestException({
      message:
        'Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.',
      ...meta(400),
    }),
  'BadRequestException without SQLSTATE (endpoint not available yet)': () =>
    new BadRequestException({
      message:
        'HttpEndpoint is not enabled for cluster eventflow-dev-cluster. Please refer to https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.html#data-api.troubleshooting',
      ...meta(400),
    }),
  'BadRequestException with SQLSTATE 57P03 (starting up)': () =>
    new BadRequestException({ message: 'FATAL: the database system is starting up; SQLState: 57P03', ...meta(400) }),
  DatabaseUnavailableException: () => new DatabaseUnavailableException({ message: 'Database unavailable', ...meta(504) }),
  HttpEndpointNotEnabledException: () =>
    new HttpEndpointNotEnabledException({ message: 'HTTP endpoint is not enabled for cluster', ...meta(400) }),
  InvalidResourceStateException: () =>
    new InvalidResourceStateException({ message: 'The resource is in an invalid state.', ...meta(400) }),
  TransactionNotFoundException: () =>
    new TransactionNotFoundException({ message: 'Transaction AQC… is not found', ...meta(404) }),
  'ThrottlingException (not modelled: the SDK raises its service base class)': () =>
    new RDSDataServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', ...meta(400) }),
  StatementTimeoutException: () =>
    new StatementTimeoutException({ message: 'Request timed out', dbConnectionId: 42, ...meta(400) }),
  InternalServerErrorException: () => new InternalServerErrorException({ message: 'Internal error', ...meta(500) }),
  ServiceUnavailableError: () => new ServiceUnavailableError({ message: 'Service unavailable', ...meta(503) }),
  "TimeoutError (the SDK's request timeout)": () =>
    Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' }),
  'ECONNRESET (no HTTP answer)': () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
};

const PERMANENT: Record<string, () => unknown> = {
  'BadRequestException with a syntax error': () =>
    new BadRequestException({
      message: 'ERROR: syntax error at or near "CREAT"\n  Position: 1; SQLState: 42601',
      ...meta(400),
    }),
  'DatabaseErrorException (unique violation)': () =>
    new DatabaseErrorException({ message: 'ERROR: duplicate key value; SQLState: 23505', ...meta(400) }),
  AccessDeniedException: () =>
    new AccessDeniedException({ message: 'not authorized to perform rds-data:ExecuteStatement', ...meta(403) }),
  ForbiddenException: () => new ForbiddenException({ message: 'Forbidden', ...meta(403) }),
  'a bug in our code': () => new TypeError("Cannot read properties of undefined (reading 'rows')"),
};

describe('isTransientDeployError', () => {
  it.each(Object.entries(TRANSIENT))('retries %s, as the SDK raises it and as the adapter rethrows it', (_name, make) => {
    expect(isTransientDeployError(make())).toBe(true);
    expect(isTransientDeployError(classifyDataApiError(make()))).toBe(true);
  });

  it.each(Object.entries(PERMANENT))('does not retry %s', (_name, make) => {
    expect(isTransientDeployError(make())).toBe(false);
    expect(isTransientDeployError(classifyDataApiError(make()))).toBe(false);
  });

  it("retries the adapter's own DependencyUnavailableError, never a bare SqlStatementError", () => {
    expect(isTransientDeployError(new DependencyUnavailableError('database', 'resuming', { resuming: true }))).toBe(true);
    expect(isTransientDeployError(new SqlStatementError('relation "x" does not exist', '42P01'))).toBe(false);
  });
});

/** A clock the fake sleep advances: budgets are checked without waiting. */
function fakeTime(budgetMs: number) {
  let now = 0;
  const delays: number[] = [];
  return {
    delays,
    remainingMs: () => budgetMs - now,
    sleep: async (ms: number) => {
      delays.push(ms);
      now += ms;
    },
  };
}

describe('retryWithinBudget', () => {
  it('retries transient failures with doubling, capped waits, then returns the result', async () => {
    const time = fakeTime(300_000);
    let calls = 0;
    const result = await retryWithinBudget(
      async () => {
        calls++;
        if (calls < 7) throw TRANSIENT.DatabaseResumingException?.();
        return 'migrated';
      },
      { ...time, reserveMs: 45_000, baseMs: 1000, maxDelayMs: 15_000, isRetryable: isTransientDeployError },
    );
    expect(result).toBe('migrated');
    expect(time.delays).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000]);
  });

  it('keeps trying past a fixed attempt count while the budget lasts (a slow first start)', async () => {
    const time = fakeTime(300_000);
    let calls = 0;
    await retryWithinBudget(
      async () => {
        if (++calls < 15) throw TRANSIENT['BadRequestException: Communications link failure']?.();
      },
      { ...time, reserveMs: 45_000, baseMs: 1000, maxDelayMs: 15_000, isRetryable: isTransientDeployError },
    );
    expect(calls).toBe(15);
  });

  it('stops when the next wait would eat into the reserve, and throws the last error', async () => {
    const time = fakeTime(60_000);
    let calls = 0;
    await expect(
      retryWithinBudget(
        async () => {
          calls++;
          throw TRANSIENT.DatabaseUnavailableException?.();
        },
        { ...time, reserveMs: 45_000, baseMs: 1000, maxDelayMs: 15_000, isRetryable: isTransientDeployError },
      ),
    ).rejects.toBeInstanceOf(DatabaseUnavailableException);
    // Waits 1+2+4+8 = 15 s leave exactly the 45 s reserve; the next 15 s wait would not fit.
    expect(time.delays).toEqual([1000, 2000, 4000, 8000]);
    expect(calls).toBe(5);
  });

  it('does not retry a permanent error', async () => {
    const time = fakeTime(300_000);
    let calls = 0;
    await expect(
      retryWithinBudget(
        async () => {
          calls++;
          throw classifyDataApiError(PERMANENT['BadRequestException with a syntax error']?.());
        },
        { ...time, reserveMs: 45_000, baseMs: 1000, maxDelayMs: 15_000, isRetryable: isTransientDeployError },
      ),
    ).rejects.toThrow('syntax error');
    expect(calls).toBe(1);
    expect(time.delays).toEqual([]);
  });
});
