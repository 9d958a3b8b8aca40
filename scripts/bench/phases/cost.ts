// (k) Cost per 1,000 events from measured counts: for single POSTs and batches of 100, on pg+ioredis (counted in
// this process) and on data-api+upstash (+ SQS) through the local endpoints (counted in their process), the SQL
// statements, Data API calls, Redis commands, SQS requests and handler milliseconds per event, priced with prices.ts.

import { createQueues } from '../../../lambdas/adapters/deps.ts';
import { loadConfig } from '../../../lambdas/config/config.ts';
import { createIngestApp } from '../../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../../lambdas/ingest/uuidv7.ts';
import { createPrometheusMetrics } from '../../../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, type SqlExecutor, systemClock } from '../../../lambdas/ports.ts';
import { formatNumber } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { type Counts, countsSince, installCounters, snapshotCounts } from '../lib/counters.ts';
import { drainBacklog, ingest, inProcess } from '../pipeline.ts';
import { LAMBDA_MEMORY_GB, lambdaCost, PRICES, PRICES_DATE } from '../prices.ts';
import { openDataApi, openUpstash, startEndpointsProcess } from './serverless.ts';

/** What one step cost, per event. */
interface PerEvent {
  readonly sqlStatements: number;
  readonly dataApiCalls: number;
  readonly redisCommands: number;
  readonly sqsRequests: number;
  readonly invocations: number;
  readonly billedMs: number;
}

const DATA_API_PATHS = ['/Execute', '/BatchExecute', '/BeginTransaction', '/CommitTransaction', '/RollbackTransaction'];

function perEvent(counts: Counts, events: number, invocations: number, billedMs: number): PerEvent {
  let dataApiCalls = 0;
  let sqsRequests = 0;
  for (const [name, n] of Object.entries(counts.httpRequests)) {
    const path = name.split(' ')[1] ?? '';
    if (DATA_API_PATHS.includes(path)) dataApiCalls += n;
    // SQS's JSON protocol names the action in X-Amz-Target (AmazonSQS.SendMessage); its query protocol posts to the queue path.
    else if (name.includes('AmazonSQS') || /^POST \/\d+\//.test(name)) sqsRequests += n;
  }
  return {
    sqlStatements: counts.sqlStatements / events,
    dataApiCalls: dataApiCalls / events,
    redisCommands: counts.redisCommands / events,
    sqsRequests: sqsRequests / events,
    invocations: invocations / events,
    billedMs: billedMs / events,
  };
}

interface PathDeps {
  readonly label: string;
  readonly open: (key: string) => { sql: SqlExecutor; stream: EventStream };
  readonly queues: Awaited<ReturnType<typeof createQueues>>;
  readonly counts: () => Promise<Counts>;
  readonly priced: boolean;
}

/** Ingest then drain `events` events on one path; the per-event counts of each step. */
async function measurePath(run: BenchRun, deps: PathDeps, mode: 'single' | 'batch', events: number) {
  const key = run.streamKey(`cost-${deps.label.replace(/\W+/g, '-')}-${mode}`);
  const { sql, stream } = deps.open(key);
  await stream.ensureGroup();
  const app = createIngestApp({
    sql,
    stream,
    ...(deps.queues.fallback ? { fallback: deps.queues.fallback } : {}),
    clock: systemClock,
    newId: uuidv7,
    metrics: createPrometheusMetrics(),
    logger: run.quiet.logger,
  });
  const post = inProcess(app);
  await ingest(run, post, 'cost warm-up', 20, { batch: null, concurrency: 1 }); // connections and JIT, not counted
  const before = await deps.counts();
  // One request at a time, as one Lambda container serves them.
  const sent = await ingest(run, post, `cost ${deps.label} ${mode}`, events, {
    batch: mode === 'single' ? null : 100,
    concurrency: 1,
  });
  const ingestCounts = countsSince(before, await deps.counts());
  const billed = sent.latencies.reduce((sum, ms) => sum + Math.ceil(ms), 0);
  const ingestStep = perEvent(ingestCounts, events, sent.latencies.length, billed);

  const beforeDrain = await deps.counts();
  const drained = await drainBacklog(run, `cost ${deps.label} ${mode}`, () => deps.open(key), key, events + 20, {
    batchSize: 100,
    drainers: 1,
  });
  const drainCounts = countsSince(beforeDrain, await deps.counts());
  // Scheduled mode: one invocation drains the backlog; billed for its whole duration.
  const drainStep = perEvent(drainCounts, events + 20, 1, Math.ceil(drained.elapsedMs));
  return { ingest: ingestStep, drain: drainStep };
}

function describe(step: PerEvent): string {
  const parts = [
    `SQL statements ${formatNumber(step.sqlStatements * 1000, 0)}`,
    step.dataApiCalls > 0 ? `Data API calls ${formatNumber(step.dataApiCalls * 1000, 0)}` : '',
    `Redis commands ${formatNumber(step.redisCommands * 1000, 0)}`,
    `SQS requests ${formatNumber(step.sqsRequests * 1000, 0)}`,
    `invocations ${formatNumber(step.invocations * 1000, step.invocations * 1000 < 10 ? 1 : 0)}`,
    `Lambda ms ${formatNumber(step.billedMs * 1000, 0)}`,
  ];
  return parts.filter(Boolean).join(', ');
}

/** Dollars per 1,000 events of one step on the deployed drivers (Data API + Upstash; SQS; REST API for ingest). */
function dollars(step: PerEvent, withApiGateway: boolean): number {
  const n = 1000;
  return (
    lambdaCost(step.invocations * n, step.billedMs * n) +
    (withApiGateway ? step.invocations * n * PRICES.restApiPerRequest : 0) +
    step.dataApiCalls * n * PRICES.dataApiPerRequest +
    step.redisCommands * n * PRICES.upstashPerCommand +
    step.sqsRequests * n * PRICES.sqsPerRequest
  );
}

export async function phaseCost(run: BenchRun): Promise<void> {
  const phase = '(k) cost per 1,000 events';
  installCounters();
  const singles = run.options.quick ? 100 : 500;
  const batched = run.options.quick ? 500 : 3000;
  run.progress(`${phase}: pg+ioredis, counted in this process`);
  const local: PathDeps = {
    label: 'pg+ioredis',
    open: (key) => ({ sql: run.openPg(), stream: run.openIoredis(key) }),
    queues: {},
    counts: async () => snapshotCounts(),
    priced: false,
  };
  run.progress(`${phase}: starting the local Data API, Upstash and SQS endpoints`);
  const endpoints = await startEndpointsProcess(run);
  const queueConfig = loadConfig({
    SQL_DRIVER: 'pg',
    DATABASE_URL: run.databaseUrl,
    DLQ_URL: endpoints.dlqUrl,
    INGEST_FALLBACK_QUEUE_URL: endpoints.fallbackUrl,
    SQS_ENDPOINT: endpoints.sqs,
  });
  const serverless: PathDeps = {
    label: 'data-api+upstash',
    open: (key) => ({ sql: openDataApi(run, endpoints), stream: openUpstash(run, endpoints, key) }),
    queues: await createQueues(queueConfig),
    counts: () => endpoints.counts(),
    priced: true,
  };
  for (const path of [local, serverless]) {
    for (const mode of ['single', 'batch'] as const) {
      const events = mode === 'single' ? singles : batched;
      run.progress(`${phase}: ${path.label}, ${mode === 'single' ? 'single POSTs' : 'batches of 100'}: ${events} events`);
      const { ingest: ingestStep, drain: drainStep } = await measurePath(run, path, mode, events);
      const label = `${path.label}, ${mode === 'single' ? 'single POST' : 'batch of 100'}`;
      run.report(phase, `${label}: ingest`, '', describe(ingestStep));
      run.report(phase, `${label}: drain`, '', describe(drainStep));
      if (path.priced) {
        const ingestCost = dollars(ingestStep, true);
        const drainCost = dollars(drainStep, false);
        run.report(
          phase,
          `${label}: AWS cost`,
          `$${formatNumber(ingestCost + drainCost, 5)}`,
          `ingest $${formatNumber(ingestCost, 5)} (REST API, Lambda, Data API, Upstash, SQS) + drain $${formatNumber(drainCost, 5)}; us-east-1 list prices of ${PRICES_DATE}, Lambda arm64 ${LAMBDA_MEMORY_GB * 1024} MB, local handler ms (no network round trips)`,
        );
      }
    }
  }
  run.phaseDone(phase);
}
