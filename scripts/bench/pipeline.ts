// The pipeline pieces the phases drive, built the way lambdas/adapters/deps.ts builds them over the run's database and keys:
// the ingest app called in-process with API Gateway events, bounded-concurrency ingest, backlog drains.
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { drainSettings } from '../../lambdas/consumer/settings.ts';
import type { DrainSettings, DrainSummary } from '../../lambdas/core/drain/delivery.ts';
import { createDrainer } from '../../lambdas/core/drain/loop.ts';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { uuidv7 } from '../../lambdas/ingest/uuidv7.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, type SqlExecutor, systemClock } from '../../lambdas/ports.ts';
import { localContext, toApiGatewayEvent } from '../lib/local-api-gateway.ts';
import { formatLatency, formatMs, formatRate, perSecond, type Summary, summarize } from '../lib/stats.ts';
import type { BenchRun } from './context.ts';

/** What the original (Python) EventFlow's README claims (docs/PERFORMANCE.md, SEED-SPEC.md). */
export const ORIGINAL = { eventsPerSecond: 1000, workers: 3, e2eP95Ms: 100, apiMs: 10 } as const;

export type IngestApp = ReturnType<typeof createIngestApp>;

export function ingestApp(run: BenchRun, sql: SqlExecutor, stream: EventStream): IngestApp {
  return createIngestApp({
    sql,
    stream,
    clock: systemClock,
    newId: uuidv7,
    metrics: createPrometheusMetrics(),
    logger: run.quiet.logger,
  });
}

/** An API Gateway proxy event as the local gateway builds it, without a socket. */
function apiEvent(method: string, path: string, body?: unknown) {
  const text = body === undefined ? '' : JSON.stringify(body);
  const fake = {
    url: path,
    method,
    rawHeaders: text ? ['Content-Type', 'application/json', 'User-Agent', 'eventflow-bench'] : ['User-Agent', 'eventflow-bench'],
    httpVersion: '1.1',
    socket: { remoteAddress: '127.0.0.1' },
  } as unknown as IncomingMessage;
  return toApiGatewayEvent(fake, Buffer.from(text, 'utf8'));
}

/** One invocation: a fresh context each time, as Lambda gives (its deadline counts down from the call, not the run). */
export async function call(app: IngestApp, method: string, path: string, body?: unknown): Promise<APIGatewayProxyResult> {
  return app(apiEvent(method, path, body), localContext('eventflow-bench', 60_000));
}

/** Runs `work(i)` for i in 0..count-1 with at most `concurrency` in flight. */
export async function bounded(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  async function lane(): Promise<void> {
    while (next < count) {
      const index = next++;
      await work(index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

export interface IngestRun {
  readonly events: number;
  readonly accepted: number;
  readonly elapsedMs: number;
  readonly latencies: number[];
  readonly statuses: Map<number, number>;
}

/** How one request is sent: in-process through the app, or over HTTP (phases/http.ts). */
export type Send = (path: '/events' | '/events/batch', body: unknown) => Promise<{ statusCode: number; body: string }>;

export const inProcess =
  (app: IngestApp): Send =>
  (path, body) =>
    call(app, 'POST', path, body);

/**
 * Open loop: starts `work(i)` for i in 0..count-1 when it is due at `rate` per second, whatever happened to earlier
 * ones, with at most `maxInFlight` unfinished; resolves when all have finished.
 */
export async function openLoop(
  count: number,
  rate: number,
  maxInFlight: number,
  work: (index: number) => Promise<void>,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  const begin = performance.now();
  for (let i = 0; i < count; i++) {
    const dueMs = (i / rate) * 1000 - (performance.now() - begin);
    if (dueMs > 0) await sleep(dueMs);
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const request = work(i).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
}

/** Posts `count` events, singly or in batches, with bounded concurrency; latency is per request. */
export async function ingest(
  run: BenchRun,
  post: Send,
  label: string,
  count: number,
  options: { batch: number | null; concurrency: number },
): Promise<IngestRun> {
  const all = run.bodies(count);
  const perRequest = options.batch ?? 1;
  const requests = Math.ceil(count / perRequest);
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let accepted = 0;
  const tick = run.ticker(label, count);
  const begin = performance.now();
  await bounded(requests, options.concurrency, async (index) => {
    const slice = all.slice(index * perRequest, (index + 1) * perRequest);
    const t0 = performance.now();
    const result = options.batch === null ? await post('/events', slice[0]) : await post('/events/batch', { events: slice });
    latencies.push(performance.now() - t0);
    statuses.set(result.statusCode, (statuses.get(result.statusCode) ?? 0) + 1);
    if (result.statusCode === 202) accepted += slice.length;
    else if (result.statusCode === 207) accepted += (JSON.parse(result.body) as { accepted: number }).accepted;
    tick(index * perRequest);
  });
  const result: IngestRun = { events: count, accepted, elapsedMs: performance.now() - begin, latencies, statuses };
  if (accepted !== count) run.surprises.push(`${label}: ${accepted}/${count} accepted (HTTP ${describeStatuses(statuses)})`);
  return result;
}

function describeStatuses(statuses: Map<number, number>): string {
  return [...statuses].map(([status, n]) => `${status}×${n}`).join(', ');
}

/**
 * An ingest run's two report rows: its throughput, then its per-request API latency, with the max in the note
 * unless `latencyNote` says something else. Returns the figures the comparisons quote.
 */
export function reportIngest(
  run: BenchRun,
  phase: string,
  measure: string,
  result: IngestRun,
  latencyMeasure: string,
  latencyNote: (stats: Summary) => string = (stats) => `max ${formatMs(stats.max)}`,
  rateNote = '',
): { rate: number | null; stats: Summary } {
  const rate = perSecond(result.accepted, result.elapsedMs);
  const stats = summarize(result.latencies);
  run.report(
    phase,
    measure,
    formatRate(rate),
    `${result.accepted} accepted in ${formatMs(result.elapsedMs)}${rateNote ? `; ${rateNote}` : ''}`,
  );
  run.report(phase, `  ${latencyMeasure}`, formatLatency(stats), latencyNote(stats));
  return { rate, stats };
}

/** The rows of single POSTs sent one at a time: the unloaded API latency the comparisons hold against the original. */
export function reportUnloaded(run: BenchRun, phase: string, result: IngestRun): { rate: number | null; stats: Summary } {
  return reportIngest(run, phase, 'single POST /events, 1 in flight', result, 'API latency (unloaded)');
}

export interface DrainRun {
  readonly events: number;
  readonly elapsedMs: number;
  readonly summary: DrainSummary;
}

/**
 * Drains a pre-filled backlog with `drainers` concurrent drain loops (scheduled mode: each stops when the stream has
 * nothing new), each with its own SQL pool and stream connection as separate Lambda containers would have.
 */
export async function drainBacklog(
  run: BenchRun,
  label: string,
  open: () => { sql: SqlExecutor; stream: EventStream },
  key: string,
  events: number,
  settings: { batchSize: number; drainers: number },
): Promise<DrainRun> {
  const config = run.config(key);
  const loops = Array.from({ length: settings.drainers }, (_, i) => {
    const { sql, stream } = open();
    const drainSetting: DrainSettings = drainSettings(config, `bench-${label.replace(/\W+/g, '-')}-${i + 1}`, {
      mode: 'scheduled',
      batchSize: settings.batchSize,
      blockMs: 0,
    });
    return createDrainer(
      { sql, stream, clock: systemClock, metrics: createPrometheusMetrics(), logger: run.quiet.logger },
      drainSetting,
    );
  });
  const begin = performance.now();
  const summaries = await Promise.all(loops.map((drainer) => drainer.drain({ remainingMs: () => 600_000, marginMs: 0 })));
  const elapsedMs = performance.now() - begin;
  const summary = summaries.reduce((sum, s) => ({
    batches: sum.batches + s.batches,
    processed: sum.processed + s.processed,
    failed: sum.failed + s.failed,
    duplicates: sum.duplicates + s.duplicates,
    retried: sum.retried + s.retried,
    pauses: sum.pauses + s.pauses,
    republished: sum.republished + s.republished,
    fromFallback: sum.fromFallback + s.fromFallback,
  }));
  if (summary.processed !== events) {
    run.surprises.push(
      `${label}: ${summary.processed}/${events} processed (failed ${summary.failed}, duplicates ${summary.duplicates}, retried ${summary.retried})`,
    );
  }
  return { events, elapsedMs, summary };
}

/** Fills a stream through the real ingest batch route (raw rows + XADD, as production does). */
export async function preload(run: BenchRun, app: IngestApp, label: string, count: number): Promise<void> {
  await ingest(run, inProcess(app), `${label} (preload)`, count, { batch: 100, concurrency: 4 });
}
