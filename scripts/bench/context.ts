// One bench run's shared state: options, the throwaway database and stream keys, the report rows collected so far,
// progress lines, and the cleanup that drops everything this run created. Never judges a figure.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { type Config, loadConfig } from '../../lambdas/config/config.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { createEventGenerator } from '../lib/event-generator.ts';
import { formatRate, formatRatio, ratio } from '../lib/stats.ts';
import { profiled } from './lib/cpu-profile.ts';

export interface BenchOptions {
  readonly events: number;
  readonly quick: boolean;
  /** Phases to run, by name (all when empty). */
  readonly only: readonly string[];
  /** Where to write CPU profiles of the measured sections (--cpu-prof); none when absent. */
  readonly cpuProfDir?: string | undefined;
}

/** Postgres or Redis is not there: a one-line, actionable message, no stack trace. */
export class ServiceMissingError extends Error {
  override name = 'ServiceMissingError';
}

/** This machine's limits, measured in the same run (phases/ceilings.ts), in operations (events, rows) per second. */
export interface Ceilings {
  httpBare?: number | null;
  xaddUnpipelined?: number | null;
  xaddPipelined?: number | null;
  insertSingle1?: number | null;
  insertSingle8?: number | null;
  insertMulti500?: number | null;
}

export const CEILING_NAMES: Record<keyof Ceilings, string> = {
  httpBare: 'bare node:http server answering 202, same client and concurrency',
  xaddUnpipelined: 'Redis XADD, one at a time',
  xaddPipelined: 'Redis XADD, pipelined by 100',
  insertSingle1: 'Postgres single-row INSERT … ON CONFLICT, 1 connection',
  insertSingle8: 'Postgres single-row INSERT … ON CONFLICT, 8 connections',
  insertMulti500: 'Postgres 500-row multi-row INSERT into a processed_events-shaped table',
};

export interface Row {
  readonly phase: string;
  readonly measure: string;
  readonly value: string;
  readonly note: string;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Everything a phase needs from the run; one instance per `npm run bench`. */
export class BenchRun {
  readonly adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  readonly redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  readonly runId = randomUUID().replaceAll('-', '').slice(0, 12);
  /** Only [a-z0-9_] (the run id is hex), so interpolating it into SQL is safe. */
  readonly database = `ef_bench_${this.runId}`;
  readonly keyPrefix = `ef_bench_${this.runId}`;
  readonly databaseUrl = withDatabase(this.adminUrl, this.database);
  readonly startedAt = performance.now();
  readonly loadAtStart = loadavg()[0] ?? 0;
  /** The pipeline's log lines; warnings among them are listed under "Check these". */
  readonly quiet = createQuietLogger();

  readonly rows: Row[] = [];
  readonly rssAfter: Array<[string, number]> = [];
  readonly comparisons: string[] = [];
  readonly surprises: string[] = [];
  readonly ceilings: Ceilings = {};

  private readonly closers: Array<() => Promise<unknown>> = [];
  private readonly streamKeys = new Set<string>();
  private readonly tempDirs: string[] = [];
  private databaseCreated = false;
  private cleaning: Promise<void> | null = null;
  private seedCounter = Math.floor(Math.random() * 2 ** 30);

  constructor(readonly options: BenchOptions) {}

  report(phase: string, measure: string, value: string, note = ''): void {
    this.rows.push({ phase, measure, value, note });
  }

  /** Runs a measured section, under the CPU profiler when --cpu-prof was given (<dir>/<name>.cpuprofile). */
  profile<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.options.cpuProfDir ? profiled(this.options.cpuProfDir, name, work) : work();
  }

  /** A row under the figure just reported: its ratio to the ceiling that bounds it (when that was measured). */
  reportRatio(phase: string, value: number | null, ceiling: keyof Ceilings, goal?: string): number | null {
    const limit = this.ceilings[ceiling];
    if (limit === undefined) return null;
    const share = ratio(value, limit ?? null);
    this.report(
      phase,
      '  ratio to ceiling',
      formatRatio(share),
      `of ${CEILING_NAMES[ceiling]} (${formatRate(limit ?? null)})${goal ? `; goal ${goal}` : ''}`,
    );
    return share;
  }

  phaseDone(phase: string): void {
    this.rssAfter.push([phase, process.memoryUsage().rss]);
  }

  progress(line: string): void {
    process.stderr.write(`[bench ${((performance.now() - this.startedAt) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
  }

  /** Progress for a long loop: at most one line every two seconds. */
  ticker(label: string, total: number): (done: number) => void {
    let last = performance.now();
    return (done) => {
      const now = performance.now();
      if (now - last >= 2000 && done < total) {
        last = now;
        this.progress(`${label}: ${done}/${total}`);
      }
    };
  }

  /** A stream key of this run, remembered for deletion. */
  streamKey(name: string): string {
    const key = `${this.keyPrefix}:${name}`;
    this.streamKeys.add(key);
    return key;
  }

  /** Closed (in reverse order) by cleanup, also after a failure. */
  onCleanup(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  /** A temporary folder removed by cleanup. */
  removeLater(dir: string): void {
    this.tempDirs.push(dir);
  }

  /** Config as the Lambdas would parse it for a given stream key: production defaults (batch 100, BLOCK 5000…). */
  config(key: string): Config {
    return loadConfig({ SQL_DRIVER: 'pg', DATABASE_URL: this.databaseUrl, REDIS_URL: this.redisUrl, STREAM_KEY: key });
  }

  openPg(max?: number): SqlExecutor {
    const sql = createPgExecutor({ connectionString: this.databaseUrl, ...(max === undefined ? {} : { max }) });
    this.onCleanup(() => sql.close());
    return sql;
  }

  openIoredis(key: string, maxBlockMs = 0): EventStream {
    const stream = createIoredisStream({ url: this.redisUrl, streamKey: key, group: 'workers', maxBlockMs });
    this.onCleanup(() => stream.close());
    return stream;
  }

  /** Valid events only, with a fresh seed each time: the generator repeats event_ids for a repeated seed. */
  bodies(count: number): Record<string, unknown>[] {
    return createEventGenerator({ seed: this.seedCounter++, invalidFraction: 0 })
      .take(count)
      .map((event) => event.body);
  }

  async createDatabase(): Promise<string> {
    const admin = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 3000 });
    try {
      await admin.connect();
    } catch (error) {
      throw new ServiceMissingError(
        `cannot reach Postgres at ${new URL(this.adminUrl).host} (${(error as Error).message}); set DATABASE_URL`,
        { cause: error },
      );
    }
    try {
      const version = await admin.query<{ server_version: string }>('SHOW server_version');
      await admin.query(`CREATE DATABASE ${this.database}`);
      this.databaseCreated = true;
      return version.rows[0]?.server_version ?? '?';
    } finally {
      await admin.end();
    }
  }

  async redisVersion(): Promise<string> {
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
    // Connection errors surface through connect() below; the event only needs a listener so Node does not throw it.
    redis.on('error', () => {});
    try {
      await redis.connect();
      return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    } catch (error) {
      throw new ServiceMissingError(
        `cannot reach Redis at ${this.redisUrl} (${(error as Error).message}); start one with \`redis-server --daemonize yes\` or set REDIS_URL`,
        { cause: error },
      );
    } finally {
      redis.disconnect();
    }
  }

  /** Drops what this run created. Idempotent; runs on failure and Ctrl-C; reports what it could not drop. */
  cleanup(): Promise<void> {
    this.cleaning ??= this.cleanOnce();
    return this.cleaning;
  }

  /**
   * Closes the pools, connections and child processes opened so far. Main calls it after each phase: the server is
   * shared (max_connections 100), and pools left open by earlier phases would starve the later ones.
   */
  async closeOpened(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      // A close that fails (a child already gone, a socket already reset) must not stop the drops below.
      await close().catch(() => {});
    }
  }

  private async cleanOnce(): Promise<void> {
    await this.closeOpened();
    const problems: string[] = [];
    if (this.streamKeys.size > 0) {
      const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
      redis.on('error', () => {}); // reported through connect() / del() below
      try {
        await redis.connect();
        await redis.del(...[...this.streamKeys].flatMap((key) => [key, `${key}:errors`]));
      } catch (error) {
        problems.push(`could not delete stream keys ${this.keyPrefix}:* (${(error as Error).message})`);
      } finally {
        redis.disconnect();
      }
    }
    if (this.databaseCreated) {
      const admin = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 3000 });
      try {
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
      } catch (error) {
        problems.push(`could not drop database ${this.database} (${(error as Error).message}): drop it by hand`);
      } finally {
        await admin.end().catch(() => {}); // the connect above already reported the failure
      }
    }
    for (const dir of this.tempDirs) await rm(dir, { recursive: true, force: true });
    for (const problem of problems) process.stderr.write(`bench cleanup: ${problem}\n`);
  }
}
