// The operator scripts as a user runs them: migrate (twice), producer against a running pipeline,
// redrive (dry run, real, bad arguments). Real processes on the real Postgres and Redis.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import type { SqlExecutor } from '../../lambdas/ports.ts';
import { type LocalStack, startLocalStack } from '../../scripts/lib/local-stack.ts';
import { freePort, runScript } from '../support/processes.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

let db: TestDatabase;
let sql: SqlExecutor;
let stack: LocalStack;
const streamKey = uniqueName('events');
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  env = { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: streamKey, POWERTOOLS_LOG_LEVEL: 'ERROR' };
  sql = createPgExecutor({ connectionString: db.url });
});

afterAll(async () => {
  await stack?.stop();
  const redis = new Redis(TEST_REDIS_URL);
  await redis.del(streamKey, `${streamKey}:errors`);
  redis.disconnect();
  await sql.close();
  await db.drop();
});

describe('npm run migrate', () => {
  it('applies the schema once and says so, then reports it up to date', async () => {
    const first = runScript('scripts/migrate.ts', [], env);
    expect(await first.exited()).toBe(0);
    expect(first.output()).toMatch(/applied 001_initial, 002_producers(, \w+)* to Postgres at 127\.0\.0\.1:5432\/ef_test_/);
    const second = runScript('scripts/migrate.ts', [], env);
    expect(await second.exited()).toBe(0);
    expect(second.output()).toMatch(/is up to date/);
    // Every migration but the conditional 000_from_original, recorded once.
    expect(await countRows(sql, 'schema_migrations')).toBe(loadMigrations().length - 1);
  });
});

describe('npm run producer against npm start', () => {
  it('sends mixed traffic, prints the status-code summary, and the pipeline ends every accepted event', async () => {
    stack = await startLocalStack({ env: { ...env, PORT: '0', BLOCK_MS: '500' }, log: () => {} });
    const producer = runScript(
      'scripts/producer.ts',
      ['--count', '60', '--rate', '200', '--invalid', '0.2', '--seed', '7', '--url', stack.url],
      {},
    );
    expect(await producer.exited()).toBe(0);
    const output = producer.output();
    expect(output).toMatch(/HTTP 202\s+\d+ requests/);
    expect(output).toMatch(/HTTP 400\s+\d+ requests/);
    const accepted = Number(/accepted\s+(\d+) events/.exec(output)?.[1]);
    expect(accepted).toBeGreaterThan(30);

    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await countRows(sql, 'raw_events', 'outcome IS NULL')) > 0) {
      await sleep(100);
    }
    expect(await countRows(sql, 'raw_events')).toBe(accepted);
    expect((await countRows(sql, 'processed_events')) + (await countRows(sql, 'failed_events'))).toBe(accepted);
    expect(await countRows(sql, 'failed_events', "error_type <> 'RuleViolation'")).toBe(0);
  });

  it('says how to start the server when nothing listens', async () => {
    const port = await freePort(); // not port 1: fetch refuses it as a "bad port" before connecting
    const producer = runScript('scripts/producer.ts', ['--count', '1', '--url', `http://127.0.0.1:${port}`], {});
    expect(await producer.exited()).toBe(1);
    expect(producer.output()).toContain('npm start');
  });
});

describe('npm run redrive', () => {
  it('refuses unclear requests with the usage and exit code 2', async () => {
    for (const args of [[], ['--event-id', 'nope'], ['--all', '--limit', '0'], ['--bogus']]) {
      const run = runScript('scripts/redrive.ts', args, env);
      expect(await run.exited(), args.join(' ')).toBe(2);
      expect(run.output()).toContain('usage: npm run redrive');
    }
  });

  it('lists candidates on --dry-run without changing them, then replays them', async () => {
    const failed = await countRows(sql, 'failed_events');
    expect(failed).toBeGreaterThan(0);
    const dry = runScript('scripts/redrive.ts', ['--error-type', 'RuleViolation', '--dry-run'], env);
    expect(await dry.exited()).toBe(0);
    expect(dry.output()).toContain(`${failed} failed event(s) would be replayed`);
    expect(await countRows(sql, 'failed_events', 'replayed_at IS NOT NULL')).toBe(0);

    const real = runScript('scripts/redrive.ts', ['--all'], env);
    expect(await real.exited()).toBe(0);
    expect(real.output()).toContain(`replayed ${failed} failed event(s)`);
    // Rule violations fail again on replay: the same rows, now with a replay counted.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await countRows(sql, 'raw_events', 'outcome IS NULL')) > 0) {
      await sleep(100);
    }
    expect(await countRows(sql, 'failed_events', 'replay_count = 1 AND replayed_at IS NULL')).toBe(failed);
  });
});
