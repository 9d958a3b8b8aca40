// Specification of the two Metrics backends: EMF lines as CloudWatch will read them, Prometheus text as scraped.
// Must never write to the real stdout (EMF output is captured) nor type a metric name the table does not hold.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEmfMetrics } from '../../lambdas/observability/emf-metrics.ts';
import { createLogger, createQuietLogger } from '../../lambdas/observability/logger.ts';
import { COUNTERS, GAUGES, HISTOGRAMS } from '../../lambdas/observability/metric-names.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';

interface EmfBlob {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: ReadonlyArray<{
      readonly Namespace: string;
      readonly Dimensions: string[][];
      readonly Metrics: ReadonlyArray<{ readonly Name: string; readonly Unit: string }>;
    }>;
  };
  readonly [key: string]: unknown;
}

const ALL_DEFS = [...Object.values(COUNTERS), ...Object.values(GAUGES), ...Object.values(HISTOGRAMS)];

let stdout: string[] = [];
let stderr: string[] = [];

beforeEach(() => {
  stdout = [];
  stderr = [];
  // Powertools writes through a Console bound to process.stdout/stderr: capture both streams.
  vi.spyOn(process.stdout, 'write').mockImplementation(function captureStdout(chunk: string | Uint8Array): boolean {
    stdout.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(function captureStderr(chunk: string | Uint8Array): boolean {
    stderr.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function emitted(): EmfBlob[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EmfBlob);
}

function newEmf() {
  return createEmfMetrics({ namespace: 'EventFlowTest', serviceName: 'consumer' });
}

/** The blobs that carry `metric`, with the value CloudWatch reads for it (a number or an array). */
function blobsWith(blobs: readonly EmfBlob[], metric: string): EmfBlob[] {
  return blobs.filter((blob) => metric in blob);
}

function valuesOf(blob: EmfBlob, metric: string): number[] {
  const value = blob[metric];
  return Array.isArray(value) ? (value as number[]) : [value as number];
}

describe('metric names', () => {
  it('gives every metric a unique PascalCase EMF name and a unique snake_case Prometheus name', () => {
    // Arrange
    const emfNames = ALL_DEFS.map((def) => def.emf);
    const promNames = ALL_DEFS.map((def) => def.prom);

    // Assert
    for (const name of emfNames) expect(name).toMatch(/^[A-Z][A-Za-z0-9]*$/);
    for (const name of promNames) expect(name).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    expect(new Set(emfNames).size).toBe(emfNames.length);
    expect(new Set(promNames).size).toBe(promNames.length);
  });

  it('names counters *_total and time metrics *_seconds, as Prometheus conventions expect', () => {
    for (const def of Object.values(COUNTERS)) expect(def.prom).toMatch(/_total$/);
    for (const def of Object.values(HISTOGRAMS)) expect(def.prom).toMatch(/_seconds$/);
  });
});

describe('EMF metrics', () => {
  it('emits every metric of the table under its EMF name, in the configured namespace with the service dimension', () => {
    // Arrange
    const metrics = newEmf();
    for (const name of Object.keys(COUNTERS) as Array<keyof typeof COUNTERS>) metrics.count(name);
    for (const name of Object.keys(GAUGES) as Array<keyof typeof GAUGES>) metrics.gauge(name, 1);
    for (const name of Object.keys(HISTOGRAMS) as Array<keyof typeof HISTOGRAMS>) metrics.observe(name, 0.25);

    // Act
    metrics.flush();

    // Assert
    const blobs = emitted();
    const names = blobs.flatMap((blob) => blob._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name)));
    expect(names.sort()).toEqual(ALL_DEFS.map((def) => def.emf).sort());
    for (const blob of blobs) {
      expect(blob.service).toBe('consumer');
      for (const directive of blob._aws.CloudWatchMetrics) {
        expect(directive.Namespace).toBe('EventFlowTest');
        for (const set of directive.Dimensions) expect(set[0]).toBe('service');
      }
    }
  });

  it('sums counters per label set and writes each label set in its own blob', () => {
    // Arrange
    const metrics = newEmf();
    metrics.count('eventsReceived', 1, { event_type: 'purchase' });
    metrics.count('eventsReceived', 1, { event_type: 'purchase' });
    metrics.count('eventsReceived', 3, { event_type: 'page_view' });
    metrics.count('eventsFailed', 1, { event_type: 'purchase', error_type: 'ValidationError' });
    metrics.count('eventsFailed', 2, { event_type: 'purchase', error_type: 'ValidationError' });

    // Act
    metrics.flush();

    // Assert
    const blobs = emitted();
    const received = blobsWith(blobs, 'EventsReceived');
    expect(received.map((blob) => [blob.event_type, blob.EventsReceived]).sort()).toEqual([
      ['page_view', 3],
      ['purchase', 2],
    ]);
    const [failed] = blobsWith(blobs, 'EventsFailed');
    expect(blobsWith(blobs, 'EventsFailed')).toHaveLength(1);
    expect(failed).toMatchObject({ event_type: 'purchase', error_type: 'ValidationError', EventsFailed: 3 });
    expect(failed?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'event_type', 'error_type'], ['service']]);
    // A blob's dimensions apply to all its metrics: two label sets never share one.
    for (const blob of blobs) {
      const dimensionKeys = new Set(blob._aws.CloudWatchMetrics.flatMap((d) => d.Dimensions.flat()));
      for (const key of dimensionKeys) expect(typeof blob[key]).toBe('string');
    }
  });

  it('adds a service-only dimension set to labelled metrics so totals across labels exist for alarms', () => {
    // Arrange
    const metrics = newEmf();
    metrics.count('eventsProcessed', 4, { event_type: 'custom' });
    metrics.count('eventsRepublished', 2);

    // Act
    metrics.flush();

    // Assert
    const blobs = emitted();
    expect(blobsWith(blobs, 'EventsProcessed')[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
      ['service', 'event_type'],
      ['service'],
    ]);
    expect(blobsWith(blobs, 'EventsRepublished')[0]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });

  it('gives the producer its own dimension set, never crossed with event_type, so each producer costs one metric', () => {
    // Arrange
    const metrics = newEmf();
    metrics.count('eventsReceived', 2, { event_type: 'purchase', producer: 'k1' });
    metrics.count('eventsReceived', 1, { event_type: 'page_view', producer: 'k1' });
    metrics.count('eventsProcessed', 5, { event_type: 'purchase' });

    // Act
    metrics.flush();

    // Assert
    const received = blobsWith(emitted(), 'EventsReceived');
    expect(received.map((blob) => [blob.event_type, blob.producer, blob.EventsReceived]).sort()).toEqual([
      ['page_view', 'k1', 1],
      ['purchase', 'k1', 2],
    ]);
    for (const blob of received) {
      expect(blob._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
        ['service', 'event_type'],
        ['service', 'producer'],
        ['service'],
      ]);
      // A metric with the same event_type but its own dimension sets is never put in this blob.
      expect(blob).not.toHaveProperty('EventsProcessed');
    }
  });

  it('fills a missing declared label with "unknown" and drops undeclared labels', () => {
    // Arrange
    const metrics = newEmf();
    metrics.count('eventsFailed', 1, { error_type: 'TimeoutError', tenant: 'acme' });

    // Act
    metrics.flush();

    // Assert
    const [blob] = emitted();
    expect(blob).toMatchObject({ event_type: 'unknown', error_type: 'TimeoutError', EventsFailed: 1 });
    expect(blob).not.toHaveProperty('tenant');
  });

  it('keeps every histogram observation, in seconds, so CloudWatch can compute percentiles', () => {
    // Arrange
    const metrics = newEmf();
    const observations = [0.05, 0.2, 0.2, 1.5, 7];
    for (const seconds of observations) metrics.observe('processingDuration', seconds, { event_type: 'purchase' });

    // Act
    metrics.flush();

    // Assert
    const [blob] = blobsWith(emitted(), 'EventProcessingDuration');
    expect(blob?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'EventProcessingDuration', Unit: 'Seconds' }]);
    expect(blob?.event_type).toBe('purchase');
    expect(blob && valuesOf(blob, 'EventProcessingDuration')).toEqual(observations);
  });

  it('splits more than 100 observations into blobs of at most 100 values, each with its dimensions', () => {
    // Arrange
    const metrics = newEmf();
    const observations = Array.from({ length: 250 }, (_, i) => i / 100);
    for (const seconds of observations) metrics.observe('processingDuration', seconds, { event_type: 'page_view' });
    metrics.count('eventsProcessed', 250, { event_type: 'page_view' });

    // Act
    metrics.flush();

    // Assert
    const blobs = blobsWith(emitted(), 'EventProcessingDuration');
    expect(blobs.map((blob) => valuesOf(blob, 'EventProcessingDuration').length)).toEqual([100, 100, 50]);
    expect(blobs.flatMap((blob) => valuesOf(blob, 'EventProcessingDuration'))).toEqual(observations);
    for (const blob of blobs) {
      expect(blob.event_type).toBe('page_view');
      expect(blob._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'event_type'], ['service']]);
    }
    const processed = blobsWith(emitted(), 'EventsProcessed');
    expect(processed).toHaveLength(1);
    expect(processed[0]).toMatchObject({ event_type: 'page_view', EventsProcessed: 250 });
  });

  it('keeps the last gauge value, in Seconds for *_seconds gauges and Count otherwise', () => {
    // Arrange
    const metrics = newEmf();
    metrics.gauge('queueDepth', 40);
    metrics.gauge('queueDepth', 12);
    metrics.gauge('oldestPendingAge', 3.5);

    // Act
    metrics.flush();

    // Assert
    const [blob] = emitted();
    expect(blob).toMatchObject({ QueueDepth: 12, OldestPendingAgeSeconds: 3.5 });
    expect(blob?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'QueueDepth', Unit: 'Count' },
      { Name: 'OldestPendingAgeSeconds', Unit: 'Seconds' },
    ]);
  });

  it('resets after a flush, and a flush with nothing recorded writes nothing and warns nothing', () => {
    // Arrange
    const metrics = newEmf();
    metrics.count('eventsReceived', 1, { event_type: 'custom' });
    metrics.flush();
    stdout = [];

    // Act
    metrics.flush();
    const fresh = newEmf();
    fresh.flush();

    // Assert
    expect(stdout.join('')).toBe('');
    expect(stderr.join('')).toBe('');
  });

  it('refuses values CloudWatch and Prometheus cannot represent', () => {
    const metrics = newEmf();
    expect(() => metrics.count('eventsReceived', -1, { event_type: 'custom' })).toThrow(RangeError);
    expect(() => metrics.observe('queueWait', Number.NaN)).toThrow(RangeError);
    expect(() => metrics.gauge('queueLag', Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('Prometheus metrics', () => {
  it('renders counters with their labels, help text and type', async () => {
    // Arrange
    const metrics = createPrometheusMetrics();
    metrics.count('eventsReceived', 1, { event_type: 'purchase', producer: 'shop' });
    metrics.count('eventsReceived', 1, { event_type: 'purchase', producer: 'shop' });
    metrics.count('eventsFailed', 1, { event_type: 'purchase', error_type: 'ValidationError' });

    // Act
    const text = await metrics.render();

    // Assert
    expect(text).toContain(`# HELP events_received_total ${COUNTERS.eventsReceived.help}`);
    expect(text).toContain('# TYPE events_received_total counter');
    expect(text).toContain('events_received_total{event_type="purchase",producer="shop"} 2');
    expect(text).toContain('events_failed_total{event_type="purchase",error_type="ValidationError"} 1');
  });

  it('declares every metric of the table under its Prometheus name and kind', async () => {
    const text = await createPrometheusMetrics().render();
    for (const def of Object.values(COUNTERS)) expect(text).toContain(`# TYPE ${def.prom} counter`);
    for (const def of Object.values(GAUGES)) expect(text).toContain(`# TYPE ${def.prom} gauge`);
    for (const def of Object.values(HISTOGRAMS)) expect(text).toContain(`# TYPE ${def.prom} histogram`);
  });

  it('uses the histogram buckets of metric-names.ts', async () => {
    // Arrange
    const metrics = createPrometheusMetrics();
    metrics.observe('processingDuration', 0.3, { event_type: 'page_view' });
    metrics.observe('queueWait', 42);

    // Act
    const text = await metrics.render();

    // Assert
    for (const bucket of HISTOGRAMS.processingDuration.buckets) {
      const expected = bucket >= 0.3 ? 1 : 0;
      expect(text).toContain(`event_processing_duration_seconds_bucket{le="${bucket}",event_type="page_view"} ${expected}`);
    }
    for (const bucket of HISTOGRAMS.queueWait.buckets) {
      expect(text).toContain(`event_queue_wait_time_seconds_bucket{le="${bucket}"} ${bucket >= 42 ? 1 : 0}`);
    }
    expect(text).toContain('event_queue_wait_time_seconds_count 1');
    expect(text).toContain('event_queue_wait_time_seconds_sum 42');
  });

  it('sets gauges, fills missing labels like EMF does, and keeps its numbers across flush()', async () => {
    // Arrange
    const metrics = createPrometheusMetrics();
    metrics.gauge('activeWorkers', 3);
    metrics.count('eventsRetried', 2);

    // Act
    metrics.flush();
    const text = await metrics.render();

    // Assert
    expect(text).toContain('active_workers 3');
    expect(text).toContain('events_retried_total{error_type="unknown"} 2');
  });

  it('lets two instances live in one process, each with its own registry', async () => {
    const first = createPrometheusMetrics();
    const second = createPrometheusMetrics();
    first.count('eventsRepublished', 5);
    expect(await second.render()).toContain('events_republished_total 0');
  });
});

describe('logger', () => {
  it('writes one JSON object per entry with service, level, persistent and extra keys', () => {
    // Arrange
    const logger = createLogger({ serviceName: 'ingest', level: 'debug', persistentKeys: { stage: 'test' } });

    // Act
    logger.debug('parsed', { events: 2 });
    logger.info('no extra', undefined);

    // Assert
    const lines = stdout
      .join('')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ level: 'DEBUG', message: 'parsed', service: 'ingest', stage: 'test', events: 2 });
    expect(lines[1]).toMatchObject({ level: 'INFO', message: 'no extra', service: 'ingest' });
  });

  it('refuses an unknown level instead of silently logging at INFO', () => {
    expect(() => createLogger({ serviceName: 'ingest', level: 'verbose' })).toThrow(/Unknown log level "verbose"/);
  });
});

describe('quiet logger', () => {
  it('records entries in order with their extra keys and writes nothing', () => {
    // Arrange
    const { logger, entries } = createQuietLogger();

    // Act
    logger.info('batch done', { processed: 3 });
    logger.error('write failed');

    // Assert
    expect(entries).toEqual([
      { level: 'info', message: 'batch done', extra: { processed: 3 } },
      { level: 'error', message: 'write failed', extra: {} },
    ]);
    expect(stdout.join('') + stderr.join('')).toBe('');
  });
});
