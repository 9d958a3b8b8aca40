// One scenario's private EventFlow: its own database, stream key and SQS, the API and consumers as real
// processes reaching Postgres, Redis and SQS through TCP proxies the test controls. Never mocks a client.
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { DEFAULT_QUEUES, type LocalSqs, startLocalSqs } from '../../scripts/local-endpoints/sqs.ts';
import { type AccountingReport, account, allDecided, type Ledger, readOutcomes } from '../support/accounting.ts';
import { baseEnv, GiveUp, type ManagedProcess, PrivateRedis, runTsx, spawnTsx, waitFor } from '../support/child-processes.ts';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { recordScenario } from './summary.ts';

/**
 * Small timings: backoff 300 ms → 600 ms → 1200 ms, three attempts, quick maintenance, a 1 s grace
 * (the config minimum). The reconciler's rest interval stays at its production default (1 h), so the
 * scenarios exercise reconcile-after-activity rather than a reconcile every second.
 */
export const FAST_TIMINGS: Readonly<Record<string, string>> = {
  RETRY_BASE_MS: '300',
  MAX_ATTEMPTS: '3',
  BLOCK_MS: '500',
  MAINTENANCE_INTERVAL_MS: '500',
  RECONCILE_GRACE_MS: '1000',
  RECONCILE_IDLE_INTERVAL_MS: '3600000',
  TIME_MARGIN_MS: '0',
};

const GROUP = 'workers';
const [DLQ_NAME, FALLBACK_NAME] = DEFAULT_QUEUES;
const AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'fault-test', AWS_SECRET_ACCESS_KEY: 'fault-test' };
/** Lines a healthy consumer never prints: the drain loop has given up. */
const CONSUMER_DEATH = /consumer loop stopped/;

const postgresTarget = () => {
  const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  return { host: url.hostname, port: Number(url.port || 5432) };
};

export interface FaultStackOptions {
  /** The scenario's name in the summary table. */
  readonly scenario: string;
  /** Run a private redis-server (so the test can kill it and lose its data) instead of the shared one. */
  readonly privateRedis?: boolean;
  /** Variables for every process, over FAST_TIMINGS. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface StreamState {
  readonly length: number;
  readonly pending: number;
  readonly lag: number | null;
  /** Pending entries per consumer name. */
  readonly byConsumer: Record<string, number>;
}

export class FaultStack {
  /** Postgres as the API sees it. */
  readonly pgApi: TcpProxy;
  /** Postgres as the consumers and scripts see it. */
  readonly pgConsumers: TcpProxy;
  /** Redis as the API sees it. */
  readonly redisApi: TcpProxy;
  /** Redis as the consumers and scripts see it. */
  readonly redisConsumers: TcpProxy;
  readonly sqsProxy: TcpProxy;
  /** The test's own eyes on Postgres and Redis: direct connections, never through a proxy. */
  readonly pool: pg.Pool;
  readonly redis: Redis;
  readonly streamKey = uniqueName('faults');
  readonly processes: ManagedProcess[] = [];
  private readonly expectedDown = new Set<ManagedProcess>();
  private readonly sqsClient: SQSClient;
  private readonly startedAt = Date.now();

  private constructor(
    readonly options: FaultStackOptions,
    readonly db: TestDatabase,
    readonly sqs: LocalSqs,
    readonly privateRedis: PrivateRedis | null,
    proxies: { pgApi: TcpProxy; pgConsumers: TcpProxy; redisApi: TcpProxy; redisConsumers: TcpProxy; sqs: TcpProxy },
  ) {
    this.pgApi = proxies.pgApi;
    this.pgConsumers = proxies.pgConsumers;
    this.redisApi = proxies.redisApi;
    this.redisConsumers = proxies.redisConsumers;
    this.sqsProxy = proxies.sqs;
    this.pool = new pg.Pool({ connectionString: db.url, max: 3 });
    this.pool.on('error', () => {});
    this.redis = new Redis(privateRedis?.url ?? TEST_REDIS_URL, { retryStrategy: () => 100, maxRetriesPerRequest: 2 });
    this.redis.on('error', () => {});
    this.sqsClient = new SQSClient({
      endpoint: sqs.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
  }

  static async start(options: FaultStackOptions): Promise<FaultStack> {
    const cleanups: Array<() => Promise<unknown>> = [];
    try {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      // A visibility timeout of 1 s: a fallback message received while Postgres is down comes back quickly.
      const sqs = await startLocalSqs({ queues: [...DEFAULT_QUEUES], queueAttributes: { VisibilityTimeout: '1' } });
      cleanups.push(() => sqs.close());
      const privateRedis = options.privateRedis ? await PrivateRedis.start() : null;
      if (privateRedis) cleanups.push(() => privateRedis.kill());
      const redisTarget = privateRedis
        ? { host: '127.0.0.1', port: privateRedis.port }
        : (() => {
            const url = new URL(TEST_REDIS_URL);
            return { host: url.hostname, port: Number(url.port || 6379) };
          })();
      const sqsUrl = new URL(sqs.endpoint);
      const proxies = {
        pgApi: await TcpProxy.start(postgresTarget()),
        pgConsumers: await TcpProxy.start(postgresTarget()),
        redisApi: await TcpProxy.start(redisTarget),
        redisConsumers: await TcpProxy.start(redisTarget),
        sqs: await TcpProxy.start({ host: sqsUrl.hostname, port: Number(sqsUrl.port) }),
      };
      return new FaultStack(options, db, sqs, privateRedis, proxies);
    } catch (error) {
      // Start-up failed: that error is the one to see; every clean-up still runs.
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      throw error;
    }
  }

  /** The environment of a process; `role` picks the Postgres proxy it goes through. */
  env(role: 'api' | 'consumer', extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    const pgProxy = role === 'api' ? this.pgApi : this.pgConsumers;
    return {
      ...baseEnv(),
      ...AWS_ENV,
      UPSTASH_DISABLE_TELEMETRY: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DATABASE_URL: pgProxy.rewrite(this.db.url),
      REDIS_URL: `redis://127.0.0.1:${(role === 'api' ? this.redisApi : this.redisConsumers).port}`,
      STREAM_KEY: this.streamKey,
      CONSUMER_GROUP: GROUP,
      PORT: '0',
      SQS_ENDPOINT: `http://127.0.0.1:${this.sqsProxy.port}`,
      DLQ_URL: this.sqs.queueUrls[DLQ_NAME] as string,
      INGEST_FALLBACK_QUEUE_URL: this.sqs.queueUrls[FALLBACK_NAME] as string,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ...FAST_TIMINGS,
      ...this.options.env,
      ...extra,
    };
  }

  /** Starts `start.ts --api-only` on a free port; resolves once GET /health answers 200. */
  async startApi(extra: Readonly<Record<string, string>> = {}): Promise<{ url: string; process: ManagedProcess }> {
    const proc = spawnTsx('api', 'scripts/start.ts', ['--api-only'], this.env('api', extra));
    this.processes.push(proc);
    const line = await proc.waitForLine(/^\s*API\s+http:\/\/\S+/, 30_000);
    const url = (line.match(/http:\/\/\S+/) as RegExpMatchArray)[0];
    await waitFor(`${url}/health to answer 200`, async () => (await fetch(`${url}/health`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    return { url, process: proc };
  }

  /** Starts `start.ts --consumer-only` under a known consumer name; resolves once its loop runs. */
  async startConsumer(
    label: string,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<ManagedProcess & { consumer: string }> {
    const consumer = uniqueName(label);
    const proc = spawnTsx(
      `consumer ${consumer}`,
      'scripts/start.ts',
      ['--consumer-only'],
      this.env('consumer', { CONSUMER_NAME: consumer, ...extra }),
    );
    this.processes.push(proc);
    await proc.waitForLine(/EventFlow consumer running/, 30_000);
    return Object.assign(proc, { consumer });
  }

  /** SIGKILL, on purpose: the process is not reported as having died. */
  async kill(proc: ManagedProcess): Promise<void> {
    this.expectedDown.add(proc);
    await proc.kill();
  }

  /** Runs `scripts/redrive.ts` with the consumers' environment. */
  redrive(args: readonly string[]) {
    return runTsx('redrive', 'scripts/redrive.ts', args, this.env('consumer'), 60_000);
  }

  /** Postgres unreachable for everyone (API and consumers). */
  async postgresDown(): Promise<void> {
    await Promise.all([this.pgApi.block(), this.pgConsumers.block()]);
  }

  async postgresUp(): Promise<void> {
    await Promise.all([this.pgApi.restore(), this.pgConsumers.restore()]);
  }

  /** Redis unreachable for everyone. */
  async redisDown(): Promise<void> {
    await Promise.all([this.redisApi.block(), this.redisConsumers.block()]);
  }

  async redisUp(): Promise<void> {
    await Promise.all([this.redisApi.restore(), this.redisConsumers.restore()]);
  }

  /** Fails fast (with their output) when a process that should be running has died or given up. */
  assertProcessesHealthy(): void {
    for (const proc of this.processes) {
      if (this.expectedDown.has(proc)) continue;
      const gaveUp = proc.find(CONSUMER_DEATH);
      if (!proc.running || gaveUp) {
        throw new GiveUp(
          `${proc.name} ${proc.running ? `is alive but its drain loop stopped: ${gaveUp}` : `exited ${JSON.stringify(proc.status)}`}\n${proc.tail(30)}`,
        );
      }
    }
  }

  async streamState(): Promise<StreamState> {
    const length = Number(await this.redis.xlen(this.streamKey));
    const summary = (await this.redis.xpending(this.streamKey, GROUP)) as [
      number,
      string | null,
      string | null,
      Array<[string, string]> | null,
    ];
    const groups = (await this.redis.xinfo('GROUPS', this.streamKey)) as unknown[][];
    const group = groups
      .map((flat) => {
        const record: Record<string, unknown> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
        return record;
      })
      .find((g) => g.name === GROUP);
    const byConsumer: Record<string, number> = {};
    for (const [name, count] of summary[3] ?? []) byConsumer[name] = Number(count);
    return { length, pending: Number(summary[0]), lag: group?.lag == null ? null : Number(group.lag), byConsumer };
  }

  /** Pending entries with how often each was delivered (XPENDING extended form). */
  async pendingDeliveries(): Promise<Array<{ id: string; consumer: string; deliveries: number }>> {
    const rows = (await this.redis.xpending(this.streamKey, GROUP, '-', '+', 10_000)) as Array<[string, string, number, number]>;
    return rows.map(([id, consumer, , deliveries]) => ({ id, consumer, deliveries: Number(deliveries) }));
  }

  async countRows(table: 'raw_events' | 'processed_events' | 'failed_events', where = 'true'): Promise<number> {
    const result = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`);
    return result.rows[0]?.n ?? 0;
  }

  /** Messages visible or in flight in a queue. */
  async queueDepth(name: 'dlq' | 'fallback'): Promise<number> {
    const output = await this.sqsClient.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.sqs.queueUrls[name === 'dlq' ? DLQ_NAME : FALLBACK_NAME] as string,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(output.Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(output.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  /** Reads every dead letter (the test is the DLQ's only reader); returns their event_id attributes. */
  async drainDeadLetters(): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const output = await this.sqsClient.send(
        new ReceiveMessageCommand({
          QueueUrl: this.sqs.queueUrls[DLQ_NAME] as string,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: 600,
          MessageAttributeNames: ['All'],
        }),
      );
      if (!output.Messages?.length) return ids;
      for (const message of output.Messages) ids.push(message.MessageAttributes?.event_id?.StringValue ?? '?');
    }
  }

  /**
   * Waits until the system is quiet: every accepted event has its outcome, the stream is fully
   * delivered and acknowledged, and nothing changes for one more reconcile period. On timeout the
   * scenario's row (with its lost events) still goes into the summary unless `record` is false.
   */
  async settle(ledger: Ledger, options: { timeoutMs?: number; record?: boolean } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const ids = ledger.acceptedIds;
    await waitFor(
      `every accepted event (${ids.length}) to have an outcome`,
      async () => {
        this.assertProcessesHealthy();
        return allDecided(await readOutcomes(this.pool, ids), ids);
      },
      { timeoutMs, intervalMs: 250 },
    ).catch(async (error: Error) => {
      const outcomes = await readOutcomes(this.pool, ids).catch(() => new Map());
      const open = ids.filter((id) => !allDecided(outcomes, [id]));
      const state = await this.streamState().catch((e: Error) => e.message);
      // The summary shows the scenario with its lost events even when the wait gives up.
      if (options.record !== false) await this.account(ledger).catch(() => undefined);
      throw new Error(
        `${error.message}\n${open.length} still open, e.g. ${open.slice(0, 3).join(', ')}; stream ${JSON.stringify(state)}\n${this.tails()}`,
      );
    });
    await waitFor(
      'the stream to be delivered and acknowledged',
      async () => {
        this.assertProcessesHealthy();
        const state = await this.streamState();
        return state.pending === 0 && state.lag === 0;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // A late duplicate would come from a republish or a reclaim: give both one more round.
    await sleep(Number(this.env('consumer').RECONCILE_GRACE_MS) + 2 * Number(this.env('consumer').MAINTENANCE_INTERVAL_MS));
    this.assertProcessesHealthy();
  }

  /**
   * Accounts for the ledger, adds the scenario's row to the summary, and returns the report. With
   * `after`, the row counts only what came after that earlier report of the same ledger.
   */
  async account(
    ledger: Ledger,
    options: { record?: boolean; scenario?: string; after?: AccountingReport } = {},
  ): Promise<AccountingReport> {
    const report = await account(this.pool, ledger);
    if (options.record !== false) {
      const before = options.after;
      recordScenario({
        scenario: options.scenario ?? this.options.scenario,
        sent: report.sent - (before?.sent ?? 0),
        accepted: report.accepted - (before?.accepted ?? 0),
        rejected: report.refused - (before?.refused ?? 0),
        processed: report.processed - (before?.processed ?? 0),
        failed: report.failed - (before?.failed ?? 0),
        lost: report.lost,
        duplicated: report.duplicated,
        seconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
      });
    }
    return report;
  }

  /** The last lines of every process, for failure messages. */
  tails(lines = 15): string {
    return this.processes
      .map((proc) => `--- ${proc.name} (${proc.running ? 'running' : JSON.stringify(proc.status)})\n${proc.tail(lines)}`)
      .join('\n');
  }

  /** Kills every process, closes proxies and SQS, drops the database and the stream keys; never throws. */
  async close(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    await Promise.all(this.processes.map((proc) => attempt(() => proc.kill())));
    await Promise.all(
      [this.pgApi, this.pgConsumers, this.redisApi, this.redisConsumers, this.sqsProxy].map((proxy) =>
        attempt(() => proxy.close()),
      ),
    );
    await attempt(() => this.pool.end());
    if (this.privateRedis) await attempt(() => this.privateRedis?.kill() ?? Promise.resolve());
    else await attempt(() => this.redis.del(this.streamKey, `${this.streamKey}:errors`));
    this.redis.disconnect();
    this.sqsClient.destroy();
    await attempt(() => this.sqs.close());
    await attempt(() => this.db.drop());
    if (errors.length > 0) console.warn(`fault stack cleanup (${this.options.scenario}):`, errors.map(String).join('; '));
  }
}

/** The report's invariants, shaped so a failed `toEqual(CLEAN)` names the offending ids (first five of each). */
export function expectationsOf(report: AccountingReport): Record<string, unknown> {
  return {
    lost: report.lost,
    lostIds: report.lostIds.slice(0, 5),
    duplicated: report.duplicated,
    duplicatedIds: report.duplicatedIds.slice(0, 5),
    wrongOutcome: report.wrongOutcome.slice(0, 5),
    storedRefused: report.storedRefused.slice(0, 5),
    rawMismatch: report.rawMismatch.slice(0, 5),
    strayRows: report.strayRows,
    surprises: report.surprises.slice(0, 5),
  };
}

/** What a clean report looks like (for `expect(expectationsOf(report)).toEqual(CLEAN)`). */
export const CLEAN = {
  lost: 0,
  lostIds: [],
  duplicated: 0,
  duplicatedIds: [],
  wrongOutcome: [],
  storedRefused: [],
  rawMismatch: [],
  strayRows: 0,
  surprises: [],
};
