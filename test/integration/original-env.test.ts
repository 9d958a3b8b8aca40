// `npm start` with an env file written for the original EventFlow: its names reach the server and the
// consumer (host, port, database, stream, group, worker name), and each one is announced once.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalStack, startLocalStack } from '../../scripts/lib/local-stack.ts';
import { freePort, waitFor } from '../support/child-processes.ts';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

describe("the local pipeline configured with the original's environment names", () => {
  const streamKey = uniqueName('events');
  const group = uniqueName('workers');
  const worker = uniqueName('worker');
  let db: TestDatabase;
  let stack: LocalStack;
  let port: number;
  const warnings: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    port = await freePort();
    vi.spyOn(console, 'warn').mockImplementation((line: string) => void warnings.push(line));
    stack = await startLocalStack({
      env: {
        // Lower case, as the original's pydantic settings allowed.
        database_url: db.url,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_STREAM_NAME: streamKey,
        REDIS_CONSUMER_GROUP: group,
        REDIS_BLOCK_MS: '200',
        WORKER_ID: worker,
        MAX_RETRIES: '3',
        RETRY_DELAY_SECONDS: '2',
        PROCESSING_TIMEOUT_SECONDS: '30',
        LOG_LEVEL: 'WARNING',
        API_HOST: '127.0.0.2',
        API_PORT: String(port),
        METRICS_PORT: '8001',
      },
      log: () => {},
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await stack?.stop();
    const redis = new Redis(TEST_REDIS_URL);
    await redis.del(streamKey, `${streamKey}:errors`);
    redis.disconnect();
    await db?.drop();
  });

  it('listens on API_HOST:API_PORT and uses DATABASE_URL (any case)', () => {
    expect(stack.url).toBe(`http://127.0.0.2:${port}`);
    expect(stack.config.sql).toEqual({ driver: 'pg', url: db.url });
    expect(stack.config.consumer).toMatchObject({ maxAttempts: 4, retryBaseMs: 2000, blockMs: 200 });
    expect(stack.config.logLevel).toBe('WARN');
  });

  it('processes an event through REDIS_STREAM_NAME and REDIS_CONSUMER_GROUP, as consumer WORKER_ID', async () => {
    const accepted = await fetch(`${stack.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'purchase', user_id: 'u1', properties: { amount: 5 } }),
    });
    expect(accepted.status).toBe(202);
    const { event_id } = (await accepted.json()) as { event_id: string };

    await waitFor(
      'the event to be processed',
      async () => ((await (await fetch(`${stack.url}/events/${event_id}`)).json()) as { status: string }).status === 'processed',
      { timeoutMs: 20_000 },
    );
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const consumers = (await redis.xinfo('CONSUMERS', streamKey, group)) as unknown[][];
      expect(consumers.map((fields) => fields[1])).toContain(worker);
    } finally {
      redis.disconnect();
    }
  });

  it('announced each original name once, in one line', () => {
    const names = ['database_url', 'REDIS_STREAM_NAME', 'REDIS_CONSUMER_GROUP', 'REDIS_BLOCK_MS', 'WORKER_ID', 'MAX_RETRIES'];
    names.push('RETRY_DELAY_SECONDS', 'PROCESSING_TIMEOUT_SECONDS', 'LOG_LEVEL', 'API_HOST', 'API_PORT', 'METRICS_PORT');
    const notices = warnings.filter((line) => line.startsWith('eventflow config: '));
    for (const name of names)
      expect(
        notices.filter((line) => line.startsWith(`eventflow config: ${name}`)),
        name,
      ).toHaveLength(1);
    expect(notices).toHaveLength(names.length);
    expect(notices.join('')).not.toContain('\n');
  });
});
