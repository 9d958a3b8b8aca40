// `npm start` as a user runs it: a real process, real HTTP requests, Ctrl-C. On the local adapters
// and on the production combination (the runner starts the local Data API and Upstash endpoints itself).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningProcess, runScript } from '../support/processes.ts';
import { createTestDatabase, deleteStreamKeys, TEST_REDIS_URL, uniqueName } from '../support/services.ts';
import { createServerStorage, type ServerStorage } from '../support/start-server.ts';

const modes = [
  ['pg + ioredis', {}],
  ['data-api + upstash', { SQL_DRIVER: 'data-api', STREAM_DRIVER: 'upstash' }],
] as const;

describe.each(modes)('npm start on %s', (_name, driverEnv) => {
  let storage: ServerStorage;
  let server: RunningProcess;
  let url: string;

  beforeAll(async () => {
    storage = await createServerStorage(driverEnv);
    server = runScript('scripts/start.ts', [], storage.env);
    [, url] = (await server.waitFor(/API\s+(http:\/\/\S+)/, 60_000)) as unknown as [string, string];
  }, 90_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await storage?.drop();
  });

  it('applies migrations, accepts an event and shows it processed within a second', async () => {
    expect(server.output()).toContain('migrations applied: 001_initial');
    const sent = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'purchase', user_id: 'u1', properties: { amount: 12.5 } }),
    });
    expect(sent.status).toBe(202);
    const { event_id } = (await sent.json()) as { event_id: string };
    const deadline = Date.now() + 1000;
    let status = '';
    while (Date.now() < deadline && status !== 'processed') {
      status = ((await (await fetch(`${url}/events/${event_id}`)).json()) as { status: string }).status;
      if (status !== 'processed') await sleep(25);
    }
    expect(status).toBe('processed');
  });

  it('serves health, docs, the OpenAPI document and Prometheus metrics', async () => {
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(await (await fetch(`${url}/docs`)).text()).toContain('openapi.json');
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: { Event: { properties: Record<string, unknown> } } };
    };
    expect(Object.keys(openapi.paths)).toContain('/events/batch');
    expect(Object.keys(openapi.components.schemas.Event.properties)).toEqual([
      'event_id',
      'event_type',
      'user_id',
      'timestamp',
      'properties',
    ]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/events_processed_total\{event_type="purchase"\} 1/);
    expect(metrics).toContain('event_queue_wait_time_seconds_bucket');
  });

  it('stops on Ctrl-C after the batch in flight and exits 0', async () => {
    server.child.kill('SIGINT');
    await server.waitFor(/stopped: \d+ processed/, 15_000);
    expect(await server.stop()).toBe(0);
  });
});

describe('npm start when its consumer loop breaks', () => {
  it('exits 1 saying so, instead of serving on with nobody consuming', async () => {
    const db = await createTestDatabase({ migrate: false });
    const streamKey = uniqueName('events');
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const run = runScript('scripts/start.ts', [], {
        PORT: '0',
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        STREAM_KEY: streamKey,
        BLOCK_MS: '200',
      });
      await run.waitFor(/EventFlow is running/, 60_000);
      // Not an outage but a bug-like state: the stream key now holds a string (WRONGTYPE on every read).
      await redis.del(streamKey);
      await redis.set(streamKey, 'not a stream');
      expect(await run.exited()).toBe(1);
      expect(run.output()).toMatch(/eventflow: the consumer loop stopped \(.*WRONGTYPE/);
    } finally {
      await redis.del(streamKey);
      redis.disconnect();
      await db.drop();
    }
  }, 90_000);
});

describe('npm start without Redis', () => {
  it('exits 1 with one line saying how to start Redis', async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const run = runScript('scripts/start.ts', [], { PORT: '0', DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:1' });
      expect(await run.exited()).toBe(1);
      expect(run.output()).toMatch(
        /^eventflow: Redis is not reachable at redis:\/\/127\.0\.0\.1:1: start one with `redis-server --daemonize yes` or set REDIS_URL$/m,
      );
    } finally {
      await db.drop();
    }
  });
});

describe('npm start with credentials in its URLs', () => {
  const password = 'pw-never-printed';
  const withPassword = (url: string) => {
    const parsed = new URL(url);
    parsed.username ||= 'default';
    parsed.password = password;
    return parsed.toString();
  };

  it('prints no password in the banner or the data-api log line, and shows where it was masked', async () => {
    // Arrange: trust auth and Redis's passwordless default user accept any password.
    const db = await createTestDatabase({ migrate: false });
    const streamKey = uniqueName('events');
    try {
      const run = runScript('scripts/start.ts', [], {
        PORT: '0',
        SQL_DRIVER: 'data-api',
        DATABASE_URL: withPassword(db.url),
        REDIS_URL: withPassword(TEST_REDIS_URL),
        STREAM_KEY: streamKey,
      });

      // Act
      await run.waitFor(/Ctrl-C stops/, 60_000);
      await run.stop('SIGKILL');

      // Assert
      expect(run.output()).not.toContain(password);
      expect(run.output()).toMatch(/local RDS Data API endpoint: \S+ \(over postgres:\/\/postgres:\*\*\*@/);
      expect(run.output()).toMatch(/stream\s+ioredis redis:\/\/default:\*\*\*@127\.0\.0\.1:6379/);
    } finally {
      await deleteStreamKeys(streamKey);
      await db.drop();
    }
  }, 90_000);

  it('prints no password when Redis is not reachable', async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const run = runScript('scripts/start.ts', [], {
        PORT: '0',
        DATABASE_URL: withPassword(db.url),
        REDIS_URL: `redis://default:${password}@127.0.0.1:1`,
      });
      expect(await run.exited()).toBe(1);
      expect(run.output()).not.toContain(password);
      expect(run.output()).toMatch(/^eventflow: Redis is not reachable at redis:\/\/default:\*\*\*@127\.0\.0\.1:1: /m);
    } finally {
      await db.drop();
    }
  });

  it('prints no password, and one line, when DATABASE_URL is not a valid URL', async () => {
    const run = runScript('scripts/start.ts', [], {
      PORT: '0',
      DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:99999/test`,
    });
    expect(await run.exited()).toBe(1);
    expect(run.output()).not.toContain(password);
    expect(run.output()).toMatch(/^eventflow: DATABASE_URL:? is not a valid URL/m);
    expect(run.output()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('prints no password, and one line, when the local Upstash endpoint cannot reach Redis', async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const run = runScript('scripts/start.ts', [], {
        PORT: '0',
        SQL_DRIVER: 'data-api',
        STREAM_DRIVER: 'upstash',
        DATABASE_URL: db.url,
        REDIS_URL: `redis://default:${password}@127.0.0.1:1`,
      });
      expect(await run.exited()).toBe(1);
      expect(run.output()).not.toContain(password);
      expect(run.output()).toMatch(/^eventflow: Redis is not reachable at redis:\/\/default:\*\*\*@127\.0\.0\.1:1 /m);
      expect(run.output()).not.toMatch(/\n\s+at /);
    } finally {
      await db.drop();
    }
  }, 60_000);
});

describe('npm start on the embedded database', () => {
  it('refuses a second process on the same data folder with one line, and takes a stale lock over', async () => {
    // Arrange: a lock left by a process that is gone (as after a SIGKILL).
    const dataDir = join(mkdtempSync(join(tmpdir(), 'ef-pglite-')), 'pglite');
    const gone = spawnSync(process.execPath, ['-e', '']);
    writeFileSync(`${dataDir}.lock`, `${gone.pid}\n`);
    const streamKey = uniqueName('events');
    const env = { SQL_DRIVER: 'pglite', PGLITE_DIR: dataDir, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: streamKey };
    const first = runScript('scripts/start.ts', [], { ...env, PORT: '0' });
    try {
      await first.waitFor(/EventFlow is running/, 90_000);
      expect(readFileSync(`${dataDir}.lock`, 'utf8').trim()).toBe(String(first.child.pid));

      // Act: a second API and a consumer-only process on the same folder.
      const second = runScript('scripts/start.ts', [], { ...env, PORT: '0' });
      const consumerOnly = runScript('scripts/start.ts', ['--consumer-only'], env);

      // Assert
      for (const refused of [second, consumerOnly]) {
        expect(await refused.exited()).toBe(1);
        expect(refused.output().trim()).toMatch(
          new RegExp(
            `^eventflow: the embedded database in ${dataDir} is in use by another EventFlow process \\(pid ${first.child.pid}\\);.*DATABASE_URL`,
          ),
        );
        expect(refused.output().trim().split('\n')).toHaveLength(1);
      }
      expect((await fetch(`${(await first.waitFor(/API\s+(http:\/\/\S+)/, 1000))[1]}/health`)).status).toBe(200);
    } finally {
      await first.stop('SIGINT');
      await deleteStreamKeys(streamKey);
    }
    // A clean stop releases the lock.
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
  }, 120_000);
});

describe('npm start failing to start', () => {
  it('on a port in use: one line naming the fix, before the database is opened', async () => {
    const blocker = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const dataDir = join(mkdtempSync(join(tmpdir(), 'ef-pglite-')), 'pglite');
    try {
      const run = runScript('scripts/start.ts', [], { PORT: String(port), SQL_DRIVER: 'pglite', PGLITE_DIR: dataDir });
      expect(await run.exited()).toBe(1);
      expect(run.output().trim()).toBe(
        `eventflow: port ${port} on 127.0.0.1 is already in use (another npm start?): stop that process or set PORT`,
      );
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it.each([
    [
      'Postgres',
      { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/nowhere' },
      /^eventflow: cannot prepare the database \(Postgres at 127\.0\.0\.1:1\/nowhere\): .*: start Postgres or fix DATABASE_URL$/,
    ],
    [
      'the Upstash endpoint',
      { STREAM_DRIVER: 'upstash', UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 't' },
      /^eventflow: the Upstash REST endpoint http:\/\/127\.0\.0\.1:1 is not reachable \(.*\): check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, or unset them to use a local endpoint over REDIS_URL$/,
    ],
  ])(
    'on %s unreachable: one line naming the fix, no stack trace',
    async (_name, env, line) => {
      const db = await createTestDatabase({ migrate: false });
      try {
        const run = runScript('scripts/start.ts', [], { PORT: '0', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, ...env });
        expect(await run.exited()).toBe(1);
        expect(run.output()).toMatch(new RegExp(line.source, 'm'));
        expect(run.output()).not.toMatch(/^\s+at /m);
      } finally {
        await db.drop();
      }
    },
    60_000,
  );
});
