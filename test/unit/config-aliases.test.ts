// The original EventFlow's environment names are read as ours, each with a one-line notice; ours win.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ORIGINAL_ALIASES } from '../../lambdas/config/aliases.ts';
import { type Config, loadConfig } from '../../lambdas/config/config.ts';
import { ConfigError } from '../../lambdas/errors.ts';

/** loadConfig with the notices collected instead of printed. */
function load(env: Record<string, string>): { config: Config; notices: string[] } {
  const notices: string[] = [];
  const config = loadConfig(env, { notice: (line) => notices.push(line) });
  return { config, notices };
}

describe("the original's environment names", () => {
  afterEach(() => vi.restoreAllMocks());

  it('covers every name the original read (SEED-API.md)', () => {
    expect(ORIGINAL_ALIASES.map((alias) => alias.name)).toEqual([
      'DATABASE_URL',
      'REDIS_URL',
      'REDIS_STREAM_NAME',
      'REDIS_CONSUMER_GROUP',
      'REDIS_BLOCK_MS',
      'WORKER_ID',
      'MAX_RETRIES',
      'RETRY_DELAY_SECONDS',
      'BATCH_SIZE',
      'PROCESSING_TIMEOUT_SECONDS',
      'LOG_LEVEL',
      'API_HOST',
      'API_PORT',
      'METRICS_PORT',
    ]);
  });

  it.each<{ env: Record<string, string>; read: (c: Config) => unknown; value: unknown; ours: string }>([
    { env: { REDIS_STREAM_NAME: 'orders' }, read: (c: Config) => c.stream.key, value: 'orders', ours: 'STREAM_KEY' },
    { env: { REDIS_CONSUMER_GROUP: 'crew' }, read: (c: Config) => c.stream.group, value: 'crew', ours: 'CONSUMER_GROUP' },
    { env: { REDIS_BLOCK_MS: '250' }, read: (c: Config) => c.consumer.blockMs, value: 250, ours: 'BLOCK_MS' },
    { env: { WORKER_ID: 'worker-7' }, read: (c: Config) => c.consumer.name, value: 'worker-7', ours: 'CONSUMER_NAME' },
    { env: { API_HOST: '0.0.0.0' }, read: (c: Config) => c.host, value: '0.0.0.0', ours: 'LISTEN_HOST' },
    { env: { API_PORT: '8000' }, read: (c: Config) => c.port, value: 8000, ours: 'PORT' },
    // The original's own lower-case spellings of the names it shares with us.
    {
      env: { database_url: 'postgresql://eventflow:pw@localhost:5432/eventflow' },
      read: (c: Config) => c.sql,
      value: { driver: 'pg', url: 'postgresql://eventflow:pw@localhost:5432/eventflow' },
      ours: 'DATABASE_URL',
    },
    {
      env: { redis_url: 'redis://cache:6379' },
      read: (c: Config) => c.stream.redisUrl,
      value: 'redis://cache:6379',
      ours: 'REDIS_URL',
    },
    { env: { batch_size: '10' }, read: (c: Config) => c.consumer.batchSize, value: 10, ours: 'BATCH_SIZE' },
  ])('reads $env as $ours, with a one-line notice naming both', ({ env, read, value, ours }) => {
    const { config, notices } = load(env);
    expect(read(config)).toEqual(value);
    const [alias] = Object.keys(env);
    expect(notices).toEqual([expect.stringContaining(`${alias} (the original's name) is read as ${ours}`)]);
    expect(notices[0]).not.toContain('\n');
  });

  it('never shows a renamed value in a notice (a URL may carry a password)', () => {
    const { notices } = load({ database_url: 'postgresql://eventflow:s3cret@localhost/eventflow' });
    expect(notices.join()).not.toContain('s3cret');
  });

  it('reads the names in any case, as the original did', () => {
    expect(load({ redis_stream_name: 'orders' }).config.stream.key).toBe('orders');
    expect(load({ Api_Port: '8000' }).config.port).toBe(8000);
  });

  it('keeps our own names case-sensitive', () => {
    expect(load({ stream_key: 'orders' }).config.stream.key).toBe('events');
  });

  describe('MAX_RETRIES (retries after the first attempt) becomes MAX_ATTEMPTS (attempts)', () => {
    it('adds the first attempt: 3 retries are 4 attempts, 0 retries is 1', () => {
      const { config, notices } = load({ MAX_RETRIES: '3' });
      expect(config.consumer.maxAttempts).toBe(4);
      expect(notices).toEqual([
        "eventflow config: MAX_RETRIES=3 (the original's) is read as MAX_ATTEMPTS=4: the original counted retries after the first attempt; MAX_ATTEMPTS counts attempts",
      ]);
      expect(load({ MAX_RETRIES: '0' }).config.consumer.maxAttempts).toBe(1);
    });

    it('names the variable the operator wrote when the value is wrong', () => {
      expect(() => load({ MAX_RETRIES: 'three' })).toThrowError(
        new ConfigError('invalid configuration: MAX_RETRIES: must be a whole number'),
      );
      expect(() => load({ MAX_RETRIES: '100' })).toThrowError(
        new ConfigError('invalid configuration: MAX_RETRIES=100 (read as MAX_ATTEMPTS=101): must be at most 100'),
      );
    });
  });

  describe('RETRY_DELAY_SECONDS becomes RETRY_BASE_MS', () => {
    it('converts seconds to milliseconds (same backoff: 2 s, 4 s, 8 s)', () => {
      const { config, notices } = load({ RETRY_DELAY_SECONDS: '2' });
      expect(config.consumer.retryBaseMs).toBe(2000);
      expect(notices).toEqual([
        "eventflow config: RETRY_DELAY_SECONDS=2 (the original's) is read as RETRY_BASE_MS=2000: seconds to milliseconds",
      ]);
      expect(load({ RETRY_DELAY_SECONDS: '0.5' }).config.consumer.retryBaseMs).toBe(500);
    });

    it('refuses what is not a number of seconds, naming it', () => {
      expect(() => load({ RETRY_DELAY_SECONDS: '2s' })).toThrowError(
        new ConfigError('invalid configuration: RETRY_DELAY_SECONDS: must be a number of seconds'),
      );
      expect(() => load({ RETRY_DELAY_SECONDS: '0' })).toThrowError(
        new ConfigError('invalid configuration: RETRY_DELAY_SECONDS=0 (read as RETRY_BASE_MS=0): must be at least 1'),
      );
    });
  });

  describe('LOG_LEVEL becomes POWERTOOLS_LOG_LEVEL', () => {
    it("translates Python's level names", () => {
      expect(load({ LOG_LEVEL: 'WARNING' }).config.logLevel).toBe('WARN');
      expect(load({ LOG_LEVEL: 'fatal' }).config.logLevel).toBe('CRITICAL');
      expect(load({ LOG_LEVEL: 'debug' }).config.logLevel).toBe('DEBUG');
    });

    it('refuses an unknown level, naming LOG_LEVEL', () => {
      expect(() => load({ LOG_LEVEL: 'loud' })).toThrowError(
        new ConfigError(
          'invalid configuration: LOG_LEVEL=loud (read as POWERTOOLS_LOG_LEVEL=loud): must be one of trace, debug, info, warn, error, critical, silent',
        ),
      );
    });
  });

  it.each([
    { name: 'PROCESSING_TIMEOUT_SECONDS', value: '30', why: 'there is no per-event timeout' },
    { name: 'METRICS_PORT', value: '8001', why: 'Prometheus text at GET /metrics' },
  ])('accepts $name, which has no equivalent, and says why it is ignored', ({ name, value, why }) => {
    const { config, notices } = load({ [name]: value });
    expect(config).toEqual(loadConfig({}));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`${name} (the original's) is ignored: `);
    expect(notices[0]).toContain(why);
  });

  it('lets our name win when both are set, and says so', () => {
    const { config, notices } = load({ STREAM_KEY: 'ours', REDIS_STREAM_NAME: 'theirs', MAX_ATTEMPTS: '5', MAX_RETRIES: '9' });
    expect(config.stream.key).toBe('ours');
    expect(config.consumer.maxAttempts).toBe(5);
    expect(notices).toEqual([
      "eventflow config: REDIS_STREAM_NAME (the original's) is ignored: STREAM_KEY is set too, and wins",
      "eventflow config: MAX_RETRIES (the original's) is ignored: MAX_ATTEMPTS is set too, and wins",
    ]);
  });

  it('treats an empty alias as unset, like every variable', () => {
    expect(load({ REDIS_STREAM_NAME: '' })).toEqual({ config: loadConfig({}), notices: [] });
  });

  it('prints each notice once per process by default (console.warn)', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    // A spelling no other test uses, so the process-wide "already said" set has not seen it.
    loadConfig({ Redis_Consumer_Group: 'once' });
    loadConfig({ Redis_Consumer_Group: 'once' });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith("eventflow config: Redis_Consumer_Group (the original's name) is read as CONSUMER_GROUP");
  });

  it('says nothing when only our names are used', () => {
    expect(load({ STREAM_KEY: 'orders', DATABASE_URL: 'postgres://u@h/db', BATCH_SIZE: '10' }).notices).toEqual([]);
  });
});
