import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lambdas/config.ts';
import { ConfigError } from '../../lambdas/errors.ts';

describe('loadConfig', () => {
  it('runs with no environment at all: embedded database, local Redis, documented defaults', () => {
    const config = loadConfig({});
    expect(config.sql).toEqual({ driver: 'pglite', dataDir: '.eventflow/pglite' });
    expect(config.stream).toMatchObject({
      driver: 'ioredis',
      redisUrl: 'redis://127.0.0.1:6379',
      key: 'events',
      group: 'workers',
    });
    expect(config.consumer).toMatchObject({ batchSize: 100, maxAttempts: 3, retryBaseMs: 2000, mode: 'scheduled' });
    expect(config.rules.futureSkewMs).toBe(300_000);
  });

  it('uses DATABASE_URL through pg when no driver is named', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).sql).toEqual({ driver: 'pg', url: 'postgres://u@h/db' });
  });

  it('names every bad variable and the rule it broke', () => {
    expect(() => loadConfig({ BATCH_SIZE: '0', SQL_DRIVER: 'mysql', REDIS_URL: 'http://x' })).toThrowError(
      new ConfigError(
        'invalid configuration: SQL_DRIVER: must be pglite, pg or data-api; REDIS_URL: must be a redis:// or rediss:// URL; BATCH_SIZE: must be at least 1',
      ),
    );
  });

  it('demands the variables a chosen driver needs', () => {
    expect(() => loadConfig({ SQL_DRIVER: 'data-api' })).toThrow('DB_CLUSTER_ARN is required when SQL_DRIVER=data-api');
    expect(() => loadConfig({ STREAM_DRIVER: 'upstash' })).toThrow(/UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN/);
    expect(() => loadConfig({ SQL_DRIVER: 'pg' })).toThrow('DATABASE_URL is required when SQL_DRIVER=pg');
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ BATCH_SIZE: '', DLQ_URL: '' }).consumer.batchSize).toBe(100);
  });
});
