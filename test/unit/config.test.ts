import { describe, expect, it } from 'vitest';
import { loadConfig, settingDocList } from '../../lambdas/config/config.ts';
import { drainSettings } from '../../lambdas/consumer/settings.ts';
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
    expect(config.consumer).toMatchObject({
      batchSize: 100,
      maxAttempts: 3,
      retryBaseMs: 2000,
      mode: 'scheduled',
      futureSkewMs: 300_000,
    });
    expect(config.logLevel).toBe('INFO');
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

  it('refuses a URL that does not parse, naming the variable and never echoing the value (it may hold a password)', () => {
    const attempt = () => loadConfig({ DATABASE_URL: 'postgres://u:s3cret@h:99999/db', REDIS_URL: 'redis://:s3cret@[::1' });
    expect(attempt).toThrowError(
      new ConfigError(
        'invalid configuration: DATABASE_URL: is not a valid URL (check the host, port and escaping); REDIS_URL: is not a valid URL (check the host, port and escaping)',
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

  it.each(settingDocList().filter((s) => s.default !== undefined))(
    'applies the documented default of $name ($default)',
    ({ name, default: value }) => {
      expect(loadConfig({ [name]: value })).toEqual(loadConfig({}));
    },
  );

  it('refuses an unknown log level, naming the variable, and accepts any case', () => {
    expect(() => loadConfig({ POWERTOOLS_LOG_LEVEL: 'verbose' })).toThrowError(
      new ConfigError(
        'invalid configuration: POWERTOOLS_LOG_LEVEL: must be one of trace, debug, info, warn, error, critical, silent',
      ),
    );
    expect(loadConfig({ POWERTOOLS_LOG_LEVEL: 'debug' }).logLevel).toBe('DEBUG');
  });
});

describe('PRODUCER_KEYS', () => {
  it('reads name:key pairs into a map; unset means no key map (every event from the one default producer)', () => {
    const config = loadConfig({ PRODUCER_KEYS: 'shop:shop-key-0123456789, billing:billing:key:0123456789' });
    expect(config.producerKeys).toEqual(
      new Map([
        ['shop', 'shop-key-0123456789'],
        ['billing', 'billing:key:0123456789'],
      ]),
    );
    expect(loadConfig({}).producerKeys).toBeUndefined();
  });

  it.each([
    ['Shop:shop-key-0123456789', 'entry 1: a producer name is lowercase letters, digits and "-", starting with a letter'],
    ['shop:short', 'the key of "shop" must be at least 16 characters without spaces (format name:key,name:key)'],
    ['a:key-0123456789abcdef,shop-key-0123456789', 'entry 2 is not name:key (format name:key,name:key)'],
    ['a:key-0123456789abcdef,a:key-0123456789abcdeg', '"a" is listed twice'],
    ['a:key-0123456789abcdef,b:key-0123456789abcdef', '"b" has the same key as another producer'],
  ])('refuses %s in one line naming the variable, never showing a key', (value, message) => {
    expect(() => loadConfig({ PRODUCER_KEYS: value })).toThrowError(
      new ConfigError(`invalid configuration: PRODUCER_KEYS: ${message}`),
    );
  });
});

describe('drainSettings', () => {
  it("hands the drain loop exactly its settings from the config, under this consumer's name", () => {
    const config = loadConfig({ CONSUMER_NAME: 'configured', BATCH_SIZE: '7', FUTURE_SKEW_MS: '1000', TIME_MARGIN_MS: '1' });
    expect(drainSettings(config, 'c-1', { mode: 'continuous' })).toEqual({
      consumer: 'c-1',
      mode: 'continuous',
      batchSize: 7,
      blockMs: 5000,
      maxAttempts: 3,
      retryBaseMs: 2000,
      futureSkewMs: 1000,
      reconcileGraceMs: 60_000,
      reconcileIdleIntervalMs: 3_600_000,
      maintenanceIntervalMs: 10_000,
    });
  });
});
