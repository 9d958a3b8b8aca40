// The ingest API behind the local server, on the real Postgres and Redis: what each request gets back
// when many run at once, slow clients, the backlog summary before any consumer ran, replay times.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { redriveFailed } from '../../lambdas/core/redrive.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { createLocalApiServer } from '../../scripts/lib/local-api-gateway.ts';
import { type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { baseEnv, runTsx } from '../support/child-processes.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

let db: TestDatabase;
let adapters: OpenAdapters;
let sql: SqlExecutor;
let stream: EventStream;
let streamKey: string;
let redis: Redis;

beforeAll(async () => {
  db = await createTestDatabase();
  streamKey = uniqueName('events');
  adapters = await openAdapters('pg+ioredis', db.url, streamKey);
  ({ sql, stream } = adapters);
  await stream.ensureGroup();
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  await redis.del(streamKey, `${streamKey}:errors`);
  redis.disconnect();
  await adapters.close();
  await db.drop();
});

async function listen(server: ReturnType<typeof createLocalApiServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('correlation ids on the local server', () => {
  it('200 concurrent requests each get their own x-correlation-id back and in their log lines', async () => {
    // Arrange
    const pipeline = createTestPipeline({ sql, stream });
    const server = createLocalApiServer(pipeline.app);
    const url = await listen(server);
    const requests = Array.from({ length: 200 }, (_, i) => ({ id: `cid-${i}`, eventId: crypto.randomUUID() }));
    try {
      // Act: lookups of unknown events, so every request waits on Postgres while the others run.
      const answers = await Promise.all(
        requests.map(async ({ id, eventId }) => {
          const response = await fetch(`${url}/events/${eventId}`, { headers: { 'x-correlation-id': id } });
          await response.arrayBuffer();
          return { status: response.status, echoed: response.headers.get('x-correlation-id') };
        }),
      );

      // Assert
      expect(answers).toEqual(requests.map(({ id }) => ({ status: 404, echoed: id })));
      const logged = new Map(
        pipeline.logs
          .filter((entry) => entry.message === 'request')
          .map((entry) => [String(entry.extra.path), entry.extra.correlation_id]),
      );
      expect(logged.size).toBe(200);
      for (const { id, eventId } of requests) expect(logged.get(`/events/${eventId}`)).toBe(id);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('slow clients on the local server', () => {
  it('a request whose body never completes is cut off with 408, not held open', async () => {
    // Arrange: limits short enough for a test (the defaults are 10 s for headers, 30 s in all).
    const pipeline = createTestPipeline({ sql, stream });
    const server = createLocalApiServer(pipeline.app, {}, { requestTimeoutMs: 300, headersTimeoutMs: 200 });
    const url = new URL(await listen(server));
    try {
      // Act: headers announce 100 bytes, 10 are sent, then nothing.
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            'POST /events HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"event_ty',
          );
        });
        let received = '';
        socket.on('data', (chunk) => {
          received += chunk.toString();
        });
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });

      // Assert: the server ended the connection itself, saying why.
      expect(reply).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('GET /metrics/summary', () => {
  it('answers 200 with what is known when the stream and its consumer group do not exist yet', async () => {
    // Arrange: a key nothing was ever written to.
    const freshKey = uniqueName('fresh');
    const fresh = createIoredisStream({ url: TEST_REDIS_URL, streamKey: freshKey, group: 'workers' });
    const pipeline = createTestPipeline({ sql, stream: fresh });
    try {
      // Act
      const empty = await pipeline.call('GET', '/metrics/summary');
      // The API publishes before any consumer created the group: the stream exists, the group not.
      await pipeline.call('POST', '/events', { body: purchase() });
      await pipeline.call('POST', '/events', { body: purchase() });
      const backlog = await pipeline.call('GET', '/metrics/summary');

      // Assert
      expect(empty.status).toBe(200);
      expect(empty.body).toMatchObject({ stream_length: 0, queue_depth: 0, consumers_live: 0, group_exists: false });
      expect(backlog.status).toBe(200);
      expect(backlog.body).toMatchObject({ stream_length: 2, lag: 2, pending: 0, queue_depth: 2, group_exists: false });
    } finally {
      await redis.del(freshKey);
      await fresh.close();
    }
  });

  it('counts live consumers apart from the ones the group only remembers', async () => {
    // Arrange: one consumer has just read (a long-idle one is counted apart: test/unit/backlog.test.ts).
    const pipeline = createTestPipeline({ sql, stream });
    await pipeline.call('POST', '/events', { body: purchase() });
    await pipeline.drainOnce();

    // Act
    const summary = await pipeline.call('GET', '/metrics/summary');

    // Assert
    expect(summary.status).toBe(200);
    expect(summary.body).toMatchObject({ consumers_live: 1, consumers_total: 1, group_exists: true });
    expect(summary.body).not.toHaveProperty('consumers');
  });
});

describe('GET /events/{id} after a redrive', () => {
  it('shows when the event was last replayed, also after the replay failed again', async () => {
    // Arrange: a rule violation, dead-lettered.
    const pipeline = createTestPipeline({ sql, stream });
    const sent = await pipeline.call('POST', '/events', { body: purchase({ properties: { amount: 0 } }) });
    await pipeline.drainOnce();
    const firstFailure = (await pipeline.call('GET', `/events/${sent.body.event_id}`)).body;
    expect(firstFailure).toMatchObject({ status: 'failed' });
    expect(firstFailure).not.toHaveProperty('replay');

    // Act: replay it; it fails again.
    await redriveFailed({ sql, stream, logger: pipeline.logger }, { eventIds: [sent.body.event_id], limit: 10, dryRun: false });
    const reopened = (await pipeline.call('GET', `/events/${sent.body.event_id}`)).body;
    await pipeline.drainOnce();
    const secondFailure = (await pipeline.call('GET', `/events/${sent.body.event_id}`)).body;

    // Assert: the replay time is kept, between the first failure and the second.
    expect(reopened).toMatchObject({ status: 'accepted', replay: { count: 1, last_at: expect.any(String) } });
    expect(secondFailure).toMatchObject({ status: 'failed', replay: { count: 1, last_at: reopened.replay.last_at } });
    expect(Date.parse(secondFailure.replay.last_at)).toBeGreaterThanOrEqual(Date.parse(firstFailure.failed_at));
    expect(Date.parse(secondFailure.replay.last_at)).toBeLessThanOrEqual(Date.parse(secondFailure.failed_at));
  });
});

describe("the original service's fields", () => {
  it("GET /metrics/summary: queue_length is XLEN and pending_messages the group's XPENDING count; npm run monitor prints the backlog", async () => {
    // Arrange: a backlog of five events, two of them delivered and not acknowledged.
    const key = uniqueName('backlog');
    const own = createIoredisStream({ url: TEST_REDIS_URL, streamKey: key, group: 'workers' });
    await own.ensureGroup();
    const pipeline = createTestPipeline({ sql, stream: own });
    const server = createLocalApiServer(pipeline.app);
    const url = await listen(server);
    try {
      for (let i = 0; i < 5; i++) await pipeline.call('POST', '/events', { body: purchase() });
      await own.readNew('reader', { count: 2 });

      // Act
      const summary = await pipeline.call('GET', '/metrics/summary');
      const monitor = await runTsx('monitor', 'scripts/monitor.ts', ['--once', '--url', url], baseEnv());

      // Assert
      const [pendingCount] = (await redis.xpending(key, 'workers')) as [number];
      expect(summary.body).toMatchObject({
        queue_length: await redis.xlen(key),
        pending_messages: pendingCount,
        stream_length: 5,
        lag: 3,
        pending: 2,
        queue_depth: 5,
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      });
      expect(pendingCount).toBe(2);
      expect(monitor.code, monitor.output).toBe(0);
      expect(monitor.output).toMatch(
        /length 5 {2}lag 3 {2}pending 2 {2}queue_depth 5 {2}oldest_pending \S+ s {2}consumers 1 live of 1/,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await redis.del(key);
      await own.close();
    }
  });

  it('GET /health: services {database, redis} as healthy | unhealthy, timestamp and version, beside our status', async () => {
    const pipeline = createTestPipeline({ sql, stream });
    const health = await pipeline.call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      dependencies: { database: { status: 'up' }, stream: { status: 'up' } },
      services: { database: 'healthy', redis: 'healthy' },
      timestamp: expect.stringMatching(/Z$/),
      version: JSON.parse(readFileSync('package.json', 'utf8')).version,
    });
  });

  it('GET /health with Redis away: 503, redis unhealthy, database healthy', async () => {
    const away = createIoredisStream({ url: 'redis://127.0.0.1:1', streamKey: uniqueName('away'), group: 'workers' });
    const pipeline = createTestPipeline({ sql, stream: away });
    try {
      const health = await pipeline.call('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'degraded', services: { database: 'healthy', redis: 'unhealthy' } });
    } finally {
      await away.close();
    }
  });

  it('GET /: service, version, status "running" and docs, beside our routes', async () => {
    const pipeline = createTestPipeline({ sql, stream });
    const info = await pipeline.call('GET', '/');
    expect(info.body).toMatchObject({
      service: 'eventflow',
      version: JSON.parse(readFileSync('package.json', 'utf8')).version,
      status: 'running',
      docs: '/docs',
      routes: expect.arrayContaining(['POST /events']),
    });
  });
});
