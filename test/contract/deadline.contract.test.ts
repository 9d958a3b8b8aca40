// Every adapter bounds its calls by the invocation's deadline (lambdas/adapters/deadline.ts): against an endpoint
// that accepts and never answers, a call inside runWithDeadline fails as DependencyUnavailableError
// before the deadline, which is what lets the consumer stop cleanly. Real services behind a TCP proxy.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWithDeadline } from '../../lambdas/adapters/deadline.ts';
import { readUpstashCredentials, readUpstashCredentialsFromExtension } from '../../lambdas/adapters/secrets.ts';
import { createDataApiExecutor } from '../../lambdas/adapters/sql/data-api.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createSqsClient } from '../../lambdas/adapters/sqs/client.ts';
import { createSqsDeadLetterQueue } from '../../lambdas/adapters/sqs/dead-letter-queue.ts';
import { createSqsIngestFallbackQueue } from '../../lambdas/adapters/sqs/fallback-queue.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { createUpstashStream } from '../../lambdas/adapters/stream/upstash.ts';
import { type Dependency, DependencyUnavailableError } from '../../lambdas/errors.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';
import { startDataApiServer } from '../../scripts/local-endpoints/data-api.ts';
import { startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { startUpstashRestServer } from '../../scripts/local-endpoints/upstash-rest.ts';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, uniqueName } from '../support/services.ts';
import { startSilentServer, TcpProxy } from '../support/tcp-proxy.ts';

/** The time the simulated invocation has left when the call starts. */
const DEADLINE_MS = 3000;
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const ARNS = {
  resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:deadline-test',
  secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:deadline-test',
};

interface Hung {
  /** Calls the adapter makes, each against the hanging endpoint. */
  readonly calls: ReadonlyArray<readonly [string, () => Promise<unknown>]>;
  close(): Promise<void>;
}

interface Case {
  readonly adapter: string;
  readonly dependency: Dependency;
  /** Opens the adapter through a proxy, proves it works, then hangs the proxy. */
  open(): Promise<Hung>;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const tcpTarget = (url: string) => {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
};

/** A hung adapter: the calls to make against it, and what to close afterwards, in this order. */
const hungWith = (calls: Hung['calls'], ...closers: Array<() => unknown>): Hung => ({
  calls,
  close: async () => {
    for (const close of closers) await close();
  },
});

/** The calls every SQL executor makes. */
const sqlCalls = (sql: SqlExecutor): Hung['calls'] => [
  ['query', () => sql.query('SELECT 1')],
  ['transaction', () => sql.transaction((tx) => tx.query('SELECT 1'))],
];

const CASES: Case[] = [
  {
    adapter: 'pg',
    dependency: 'database',
    async open() {
      const proxy = await TcpProxy.start(tcpTarget(ADMIN_DATABASE_URL));
      const sql = createPgExecutor({ connectionString: proxy.rewrite(ADMIN_DATABASE_URL), max: 2 });
      await sql.query('SELECT 1');
      proxy.hang();
      return hungWith(
        sqlCalls(sql),
        () => proxy.close(),
        () => sql.close(),
      );
    },
  },
  {
    adapter: 'RDS Data API',
    dependency: 'database',
    async open() {
      const server = await startDataApiServer({ databaseUrl: ADMIN_DATABASE_URL });
      const proxy = await TcpProxy.start(tcpTarget(server.url));
      const database = new URL(ADMIN_DATABASE_URL).pathname.slice(1);
      const sql = createDataApiExecutor({ ...ARNS, database, endpoint: `http://127.0.0.1:${proxy.port}`, region: REGION });
      await sql.query('SELECT 1');
      proxy.hang();
      return hungWith(
        sqlCalls(sql),
        () => sql.close(),
        () => proxy.close(),
        () => server.close(),
      );
    },
  },
  {
    adapter: 'ioredis',
    dependency: 'stream',
    async open() {
      const proxy = await TcpProxy.start(tcpTarget(TEST_REDIS_URL));
      // A consumer's client: its own command timeout sits above a 10 s BLOCK, far beyond the deadline.
      const stream = createIoredisStream({
        url: proxy.rewrite(TEST_REDIS_URL),
        streamKey: uniqueName('deadline'),
        group: 'workers',
        maxBlockMs: 10_000,
      });
      await stream.ensureGroup();
      proxy.hang();
      return hungWith(
        [
          ['readNew', () => stream.readNew('c1', { count: 10, blockMs: 10_000 })],
          ['ack', () => stream.ack(['1-0'])],
          ['stats (pipeline)', () => stream.stats()],
        ],
        () => stream.close(),
        () => proxy.close(),
      );
    },
  },
  {
    adapter: 'Upstash',
    dependency: 'stream',
    async open() {
      const server = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: uniqueName('token') });
      const proxy = await TcpProxy.start(tcpTarget(server.url));
      const stream = createUpstashStream({
        url: `http://127.0.0.1:${proxy.port}`,
        token: server.token,
        streamKey: uniqueName('deadline'),
        group: 'workers',
      });
      await stream.ensureGroup();
      proxy.hang();
      return hungWith(
        [
          ['readNew', () => stream.readNew('c1', { count: 10 })],
          ['stats (pipeline)', () => stream.stats()],
        ],
        () => proxy.close(),
        () => server.close(),
      );
    },
  },
  {
    adapter: 'SQS',
    dependency: 'queue',
    async open() {
      const name = uniqueName('deadline');
      const sqs = await startLocalSqs({ queues: [name] });
      const proxy = await TcpProxy.start(tcpTarget(sqs.endpoint));
      const client = createSqsClient({ endpoint: `http://127.0.0.1:${proxy.port}`, region: REGION, credentials: CREDENTIALS });
      const queueUrl = sqs.queueUrls[name] as string;
      const fallback = createSqsIngestFallbackQueue(client, queueUrl);
      const dlq = createSqsDeadLetterQueue(client, queueUrl);
      await fallback.send(['{}']);
      proxy.hang();
      const letter = { eventId: 'e1', payload: {}, errorType: 'E', errorMessage: 'm', attempts: 1, failedAt: '' };
      return hungWith(
        [
          ['fallback send', () => fallback.send(['{}'])],
          ['fallback receive (20 s long poll asked)', () => fallback.receive({ max: 10, waitSeconds: 20 })],
          ['fallback receive (queue default)', () => fallback.receive({ max: 10 })],
          ['fallback delete', () => fallback.delete(['handle'])],
          ['dead letter send', () => dlq.send([letter])],
        ],
        () => client.destroy(),
        () => proxy.close(),
        () => sqs.close(),
      );
    },
  },
  {
    adapter: 'Secrets Manager',
    dependency: 'stream',
    async open() {
      const silent = await startSilentServer();
      const client = new SecretsManagerClient({ endpoint: silent.url, region: REGION, credentials: CREDENTIALS });
      return hungWith(
        [['read the Upstash secret', () => readUpstashCredentials(ARNS.secretArn, client)]],
        () => client.destroy(),
        () => silent.close(),
      );
    },
  },
  {
    adapter: 'Parameters and Secrets extension',
    dependency: 'stream',
    async open() {
      const silent = await startSilentServer();
      const { hostname, port } = new URL(silent.url);
      const options = { host: hostname, port: Number(port), sessionToken: 'token' };
      return hungWith([['read the Upstash secret', () => readUpstashCredentialsFromExtension(ARNS.secretArn, options)]], () =>
        silent.close(),
      );
    },
  },
];

describe.each(CASES)('$adapter against an endpoint that accepts and never answers', ({ dependency, open }) => {
  let hung: Hung;

  beforeAll(async () => {
    hung = await open();
    cleanups.push(() => hung.close());
  });

  it('fails every call with DependencyUnavailableError before the invocation deadline', async () => {
    for (const [name, call] of hung.calls) {
      const started = Date.now();
      const error = await runWithDeadline(started + DEADLINE_MS, call).then(
        () => undefined,
        (caught: unknown) => caught,
      );

      expect(error, name).toBeInstanceOf(DependencyUnavailableError);
      expect((error as DependencyUnavailableError).dependency, name).toBe(dependency);
      expect(Date.now() - started, name).toBeLessThan(DEADLINE_MS);
    }
  });
});

describe('a blocking read under a deadline', () => {
  it('shortens its BLOCK so an idle stream answers "nothing new" before the deadline, not a timeout', async () => {
    const stream = createIoredisStream({
      url: TEST_REDIS_URL,
      streamKey: uniqueName('deadline'),
      group: 'workers',
      maxBlockMs: 10_000,
    });
    try {
      await stream.ensureGroup();
      const started = Date.now();

      const entries = await runWithDeadline(started + DEADLINE_MS, () => stream.readNew('c1', { count: 10, blockMs: 10_000 }));

      expect(entries).toEqual([]);
      expect(Date.now() - started).toBeLessThan(DEADLINE_MS);
    } finally {
      await stream.close();
    }
  });
});
