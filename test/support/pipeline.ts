// A complete pipeline over given adapters (real Postgres/Redis in integration tests): the ingest app
// and a drainer with test-friendly settings, plus Prometheus metrics to read counters back.
import { type BackpressureSettings, createBackpressure } from '../../lambdas/core/backpressure.ts';
import type { DrainSettings } from '../../lambdas/core/drain/delivery.ts';
import { createDrainer } from '../../lambdas/core/drain/loop.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../lambdas/ingest/uuidv7.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import type { Clock, DeadLetterQueue, EventStream, IngestFallbackQueue, SqlExecutor } from '../../lambdas/ports.ts';
import { systemClock } from '../../lambdas/ports.ts';
import { apiRequest, lambdaContext } from './events.ts';
import { uniqueName } from './services.ts';

export interface TestPipelineOptions {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly dlq?: DeadLetterQueue;
  readonly fallback?: IngestFallbackQueue;
  readonly clock?: Clock;
  readonly settings?: Partial<DrainSettings>;
  readonly adminToken?: string;
  /** Backpressure limits for the ingest app (none: never 429). */
  readonly backpressure?: BackpressureSettings;
  /** PRODUCER_KEYS for the ingest app (name → key): keyed routes then need a listed x-api-key. */
  readonly producerKeys?: ReadonlyMap<string, string>;
}

export function createTestPipeline(options: TestPipelineOptions) {
  const metrics = createPrometheusMetrics();
  const { logger, entries: logs } = createQuietLogger();
  const clock = options.clock ?? systemClock;
  const app = createIngestApp({
    sql: options.sql,
    stream: options.stream,
    ...(options.fallback ? { fallback: options.fallback } : {}),
    clock,
    newId: uuidv7,
    metrics,
    logger,
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...(options.producerKeys ? { producerKeys: options.producerKeys } : {}),
    ...(options.backpressure
      ? { backpressure: createBackpressure({ stream: options.stream, clock, logger }, options.backpressure) }
      : {}),
  });
  const settings: DrainSettings = {
    consumer: uniqueName('consumer'),
    mode: 'scheduled',
    batchSize: 50,
    blockMs: 0,
    maxAttempts: 3,
    retryBaseMs: 2000,
    futureSkewMs: 300_000,
    reconcileGraceMs: 60_000,
    reconcileIdleIntervalMs: 3_600_000,
    maintenanceIntervalMs: 60_000,
    ...options.settings,
  };
  const drainer = createDrainer(
    {
      sql: options.sql,
      stream: options.stream,
      ...(options.dlq ? { dlq: options.dlq } : {}),
      ...(options.fallback ? { fallback: options.fallback } : {}),
      clock,
      metrics,
      logger,
    },
    settings,
  );

  /** Sends one request through the real handler; the body comes back parsed. */
  async function call(method: string, path: string, init: Parameters<typeof apiRequest>[2] = {}) {
    const response = await app(apiRequest(method, path, init), lambdaContext());
    const isJson = String(response.headers?.['content-type'] ?? '').includes('json');
    return {
      status: response.statusCode,
      headers: response.headers ?? {},
      body: isJson ? JSON.parse(response.body) : response.body,
    };
  }

  /** One scheduled invocation: drains until the stream has nothing new or due. */
  const drainOnce = () => drainer.drain({ remainingMs: () => 60_000, marginMs: 0 });

  /** Reads one counter's total from the Prometheus registry, optionally for one label set. */
  async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await metrics.registry.getSingleMetric(name)?.get();
    return (metric?.values ?? [])
      .filter((value) => Object.entries(labels).every(([key, expected]) => value.labels[key] === expected))
      .reduce((sum, value) => sum + value.value, 0);
  }

  return { app, call, drainer, drainOnce, settings, metrics, logger, logs, counter };
}
