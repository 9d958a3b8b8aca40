// `npm run bench`: measures ingest, drain, end-to-end latency, the serverless adapters, bundle size and cold import on
// this machine, and prints the figures beside the original's claims. Never asserts a timing; never touches anything
// but its own throwaway database and stream keys, which it drops even when a phase fails.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadMigrations } from '../lambdas/adapters/migration-files.ts';
import { createDataApiExecutor } from '../lambdas/adapters/sql/data-api.ts';
import { createPgExecutor } from '../lambdas/adapters/sql/pg.ts';
import { createIoredisStream } from '../lambdas/adapters/stream/ioredis.ts';
import { createUpstashStream } from '../lambdas/adapters/stream/upstash.ts';
import { type Config, loadConfig } from '../lambdas/config.ts';
import { drainSettings } from '../lambdas/consumer/settings.ts';
import type { DrainSettings, DrainSummary } from '../lambdas/core/drain/delivery.ts';
import { createDrainer } from '../lambdas/core/drain/loop.ts';
import { migrate } from '../lambdas/core/migrations.ts';
import { createIngestApp } from '../lambdas/ingest/app.ts';
import { createQuietLogger } from '../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, type SqlExecutor, systemClock } from '../lambdas/ports.ts';
import { uuidv7 } from '../lambdas/uuidv7.ts';
import { type FlagValues, integerBetween, parseNumber, readCommandLine, runMain } from './lib/cli.ts';
import { createEventGenerator } from './lib/event-generator.ts';
import { localContext, toApiGatewayEvent } from './lib/local-api-gateway.ts';
import {
  formatKiB,
  formatLatency,
  formatMiB,
  formatMs,
  formatNumber,
  formatRate,
  formatRatio,
  median,
  perSecond,
  ratio,
  renderTable,
  type Summary,
  summarize,
} from './lib/stats.ts';

const USAGE = `Usage: npm run bench -- [options]

  --events N   events per throughput measurement (default 10000; 600 with --quick)
  --quick      a ~20 s run with smaller samples (figures are noisier)
  -h, --help   show this help

Needs the local Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test: the bench creates and drops
its own database ef_bench_<random> on that server) and Redis (REDIS_URL, default redis://127.0.0.1:6379: the bench
uses and deletes its own stream keys). Prints figures; never fails on a slow result.`;

/** What the original (Python) EventFlow's README claims (docs/PERFORMANCE.md, SEED-SPEC.md). */
const ORIGINAL = { eventsPerSecond: 1000, workers: 3, e2eP95Ms: 100, apiMs: 10 } as const;

/** Postgres or Redis is not there: a one-line, actionable message, no stack trace. */
class ServiceMissingError extends Error {
  override name = 'ServiceMissingError';
}

interface BenchOptions {
  readonly events: number;
  readonly quick: boolean;
}

const FLAGS = { events: { type: 'string' }, quick: { type: 'boolean' } } as const;

function toOptions(values: FlagValues<typeof FLAGS>): BenchOptions {
  const quick = values.quick === true;
  const events = parseNumber(
    'events',
    values.events,
    quick ? 600 : 10_000,
    integerBetween(100, 1_000_000),
    'an integer from 100 to 1000000',
  );
  return { events, quick };
}

// ---------------------------------------------------------------------------------------------------------------
// Report: rows collected as phases finish, so a failure late in the run still prints what was measured.

interface Row {
  readonly phase: string;
  readonly measure: string;
  readonly value: string;
  readonly note: string;
}

const rows: Row[] = [];
const rssAfter: Array<[string, number]> = [];
const comparisons: string[] = [];
const surprises: string[] = [];

function report(phase: string, measure: string, value: string, note = ''): void {
  rows.push({ phase, measure, value, note });
}

function phaseDone(phase: string): void {
  rssAfter.push([phase, process.memoryUsage().rss]);
}

const started = performance.now();
const loadAtStart = loadavg()[0] ?? 0;
function progress(line: string): void {
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
}

/** Progress for a long loop: at most one line every two seconds. */
function ticker(label: string, total: number) {
  let last = performance.now();
  return (done: number) => {
    const now = performance.now();
    if (now - last >= 2000 && done < total) {
      last = now;
      progress(`${label}: ${done}/${total}`);
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Throwaway resources: one database, stream keys under one prefix. Cleanup is idempotent and runs on failure and Ctrl-C.

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_ID = randomUUID().replaceAll('-', '').slice(0, 12);
const DATABASE = `ef_bench_${RUN_ID}`;
const KEY_PREFIX = `ef_bench_${RUN_ID}`;

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
const DATABASE_URL = withDatabase(ADMIN_URL, DATABASE);

const closers: Array<() => Promise<unknown>> = [];
const streamKeys = new Set<string>();
let databaseCreated = false;
let bundleDir: string | null = null;

/** A stream key of this run, remembered for deletion. */
function streamKey(name: string): string {
  const key = `${KEY_PREFIX}:${name}`;
  streamKeys.add(key);
  return key;
}

async function createDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new ServiceMissingError(
      `cannot reach Postgres at ${new URL(ADMIN_URL).host} (${(error as Error).message}); set DATABASE_URL`,
      {
        cause: error,
      },
    );
  }
  try {
    const version = await admin.query<{ server_version: string }>('SHOW server_version');
    // DATABASE holds only [a-z0-9_] (the run id is hex), so interpolating it is safe.
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    databaseCreated = true;
    return version.rows[0]?.server_version ?? '?';
  } finally {
    await admin.end();
  }
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    const problems: string[] = [];
    if (streamKeys.size > 0) {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
      redis.on('error', () => {});
      try {
        await redis.connect();
        await redis.del(...[...streamKeys].flatMap((key) => [key, `${key}:errors`]));
      } catch (error) {
        problems.push(`could not delete stream keys ${KEY_PREFIX}:* (${(error as Error).message})`);
      } finally {
        redis.disconnect();
      }
    }
    if (databaseCreated) {
      const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
      try {
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
      } catch (error) {
        problems.push(`could not drop database ${DATABASE} (${(error as Error).message}): drop it by hand`);
      } finally {
        await admin.end().catch(() => {});
      }
    }
    if (bundleDir) await rm(bundleDir, { recursive: true, force: true }).catch(() => {});
    for (const problem of problems) process.stderr.write(`bench cleanup: ${problem}\n`);
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------------------------
// The pipeline pieces, built the way lambdas/deps.ts builds them, over this run's database and keys.

/** Config as the Lambdas would parse it for a given stream key: production defaults (batch 100, BLOCK 5000…). */
function benchConfig(key: string): Config {
  return loadConfig({ SQL_DRIVER: 'pg', DATABASE_URL, REDIS_URL, STREAM_KEY: key });
}

function openPg(): SqlExecutor {
  const sql = createPgExecutor({ connectionString: DATABASE_URL });
  closers.push(() => sql.close());
  return sql;
}

function openIoredis(key: string, maxBlockMs = 0): EventStream {
  const stream = createIoredisStream({ url: REDIS_URL, streamKey: key, group: 'workers', maxBlockMs });
  closers.push(() => stream.close());
  return stream;
}

const quiet = createQuietLogger();

type IngestApp = ReturnType<typeof createIngestApp>;

function ingestApp(sql: SqlExecutor, stream: EventStream): IngestApp {
  return createIngestApp({
    sql,
    stream,
    clock: systemClock,
    newId: uuidv7,
    metrics: createPrometheusMetrics(),
    logger: quiet.logger,
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

const context = localContext('eventflow-bench', 60_000);

async function call(app: IngestApp, method: string, path: string, body?: unknown): Promise<APIGatewayProxyResult> {
  return app(apiEvent(method, path, body), context);
}

let seedCounter = Math.floor(Math.random() * 2 ** 30);
/** Valid events only, with a fresh seed each time: the generator repeats event_ids for a repeated seed. */
function bodies(count: number): Record<string, unknown>[] {
  return createEventGenerator({ seed: seedCounter++, invalidFraction: 0 })
    .take(count)
    .map((event) => event.body);
}

/** Runs `work(i)` for i in 0..count-1 with at most `concurrency` in flight. */
async function bounded(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  async function lane(): Promise<void> {
    while (next < count) {
      const index = next++;
      await work(index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

interface IngestRun {
  readonly events: number;
  readonly accepted: number;
  readonly elapsedMs: number;
  readonly latencies: number[];
  readonly statuses: Map<number, number>;
}

/** Posts `count` events, singly or in batches, with bounded concurrency; latency is per request. */
async function ingest(app: IngestApp, label: string, count: number, options: { batch: number | null; concurrency: number }) {
  const all = bodies(count);
  const perRequest = options.batch ?? 1;
  const requests = Math.ceil(count / perRequest);
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let accepted = 0;
  const tick = ticker(label, count);
  const begin = performance.now();
  await bounded(requests, options.concurrency, async (index) => {
    const slice = all.slice(index * perRequest, (index + 1) * perRequest);
    const t0 = performance.now();
    const result =
      options.batch === null
        ? await call(app, 'POST', '/events', slice[0])
        : await call(app, 'POST', '/events/batch', { events: slice });
    latencies.push(performance.now() - t0);
    statuses.set(result.statusCode, (statuses.get(result.statusCode) ?? 0) + 1);
    if (result.statusCode === 202) accepted += slice.length;
    else if (result.statusCode === 207) accepted += (JSON.parse(result.body) as { accepted: number }).accepted;
    tick(index * perRequest);
  });
  const run: IngestRun = { events: count, accepted, elapsedMs: performance.now() - begin, latencies, statuses };
  if (accepted !== count) surprises.push(`${label}: ${accepted}/${count} accepted (HTTP ${describeStatuses(statuses)})`);
  return run;
}

function describeStatuses(statuses: Map<number, number>): string {
  return [...statuses].map(([status, n]) => `${status}×${n}`).join(', ');
}

/**
 * An ingest run's two report rows: its throughput, then its per-request API latency, with the max in the note
 * unless `latencyNote` says something else. Returns the figures the comparisons quote.
 */
function reportIngest(
  phase: string,
  measure: string,
  run: IngestRun,
  latencyMeasure: string,
  latencyNote: (stats: Summary) => string = (stats) => `max ${formatMs(stats.max)}`,
): { rate: number | null; stats: Summary } {
  const rate = perSecond(run.accepted, run.elapsedMs);
  const stats = summarize(run.latencies);
  report(phase, measure, formatRate(rate), `${run.accepted} accepted in ${formatMs(run.elapsedMs)}`);
  report(phase, `  ${latencyMeasure}`, formatLatency(stats), latencyNote(stats));
  return { rate, stats };
}

interface DrainRun {
  readonly events: number;
  readonly elapsedMs: number;
  readonly summary: DrainSummary;
}

/**
 * Drains a pre-filled backlog with `drainers` concurrent drain loops (scheduled mode: each stops when the stream has
 * nothing new), each with its own SQL pool and stream connection as separate Lambda containers would have.
 */
async function drainBacklog(
  label: string,
  open: () => { sql: SqlExecutor; stream: EventStream },
  key: string,
  events: number,
  settings: { batchSize: number; drainers: number },
): Promise<DrainRun> {
  const config = benchConfig(key);
  const loops = Array.from({ length: settings.drainers }, (_, i) => {
    const { sql, stream } = open();
    const drainSetting: DrainSettings = drainSettings(config, `bench-${label.replace(/\W+/g, '-')}-${i + 1}`, {
      mode: 'scheduled',
      batchSize: settings.batchSize,
      blockMs: 0,
    });
    return createDrainer(
      { sql, stream, clock: systemClock, metrics: createPrometheusMetrics(), logger: quiet.logger },
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
    surprises.push(
      `${label}: ${summary.processed}/${events} processed (failed ${summary.failed}, duplicates ${summary.duplicates}, retried ${summary.retried})`,
    );
  }
  return { events, elapsedMs, summary };
}

/** Fills a stream through the real ingest batch route (raw rows + XADD, as production does). */
async function preload(app: IngestApp, label: string, count: number): Promise<void> {
  await ingest(app, `${label} (preload)`, count, { batch: 100, concurrency: 4 });
}

// ---------------------------------------------------------------------------------------------------------------
// Phases.

async function phaseIngest(options: BenchOptions) {
  const phase = '(a) ingest, pg+ioredis';
  progress(`${phase}: single POST /events, one at a time, then × ${options.events} with concurrency 16`);
  const app = ingestApp(openPg(), openIoredis(streamKey('ingest')));
  // A few requests first so connection set-up and JIT warm-up do not land in the figures.
  await ingest(app, 'warm-up', 50, { batch: null, concurrency: 4 });
  const sequentialCount = Math.min(1000, Math.round(options.events / 3));
  const sequential = await ingest(app, 'single POST /events, one at a time', sequentialCount, { batch: null, concurrency: 1 });
  const { stats: sequentialStats } = reportIngest(
    phase,
    'single POST /events, 1 in flight',
    sequential,
    'API latency (unloaded)',
  );
  const single = await ingest(app, 'single POST /events', options.events, { batch: null, concurrency: 16 });
  const { rate: singleRate, stats: singleStats } = reportIngest(
    phase,
    'single POST /events, 16 in flight',
    single,
    'API latency (saturated: requests queue for the pool)',
  );

  progress(`${phase}: POST /events/batch (100 per request) × ${options.events} events, concurrency 4`);
  const batch = await ingest(app, 'POST /events/batch', options.events, { batch: 100, concurrency: 4 });
  const { rate: batchRate } = reportIngest(
    phase,
    'POST /events/batch of 100, 4 in flight',
    batch,
    'API latency per batch request',
    (stats) => `${formatMs(stats.p50 === null ? null : stats.p50 / 100)} per event at p50`,
  );
  report(phase, '  batch vs single throughput', formatRatio(ratio(batchRate, singleRate)));

  comparisons.push(
    `API p95, single POST one at a time: ${formatMs(sequentialStats.p95)} = ${formatRatio(ratio(sequentialStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (lower is better; in-process, no HTTP hop)`,
    `API p95, single POST 16 in flight: ${formatMs(singleStats.p95)} = ${formatRatio(ratio(singleStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (a saturated API: queueing included)`,
    `ingest, single POST: ${formatRate(singleRate)} = ${formatRatio(ratio(singleRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
    `ingest, batch of 100: ${formatRate(batchRate)} = ${formatRatio(ratio(batchRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
  );
  phaseDone(phase);
  return { singleRate, batchRate, singleStats };
}

async function phaseDrain(options: BenchOptions) {
  const phase = '(b) drain, pg+ioredis';
  const runs: Record<string, DrainRun> = {};
  const experiments = [
    { name: 'b10x1', batchSize: 10, drainers: 1 },
    { name: 'b100x1', batchSize: 100, drainers: 1 },
    { name: 'b10x3', batchSize: 10, drainers: 3 },
    { name: 'b100x3', batchSize: 100, drainers: 3 },
  ] as const;
  for (const experiment of experiments) {
    const key = streamKey(`drain-${experiment.name}`);
    const app = ingestApp(openPg(), openIoredis(key));
    const label = `batch ${experiment.batchSize}, ${experiment.drainers} drainer${experiment.drainers > 1 ? 's' : ''}`;
    progress(`${phase}: ${label}: preloading ${options.events} events`);
    await preload(app, label, options.events);
    progress(`${phase}: ${label}: draining`);
    runs[experiment.name] = await drainBacklog(
      label,
      () => ({ sql: openPg(), stream: openIoredis(key) }),
      key,
      options.events,
      experiment,
    );
  }
  const rate = (name: string) => {
    const run = runs[name];
    return run ? perSecond(run.summary.processed, run.elapsedMs) : null;
  };
  const [b10, b100, b10x3, b100x3] = [rate('b10x1'), rate('b100x1'), rate('b10x3'), rate('b100x3')];
  const describe = (name: string) => {
    const run = runs[name];
    return run ? `${run.summary.processed} processed in ${run.summary.batches} batches, ${formatMs(run.elapsedMs)}` : '';
  };
  report(phase, 'batch 10, 1 drainer', formatRate(b10), describe('b10x1'));
  report(phase, 'batch 100, 1 drainer', formatRate(b100), describe('b100x1'));
  report(phase, '  batch 100 vs batch 10', formatRatio(ratio(b100, b10)));
  report(phase, 'batch 10, 3 drainers', formatRate(b10x3), `${describe('b10x3')} (the original's set-up)`);
  report(
    phase,
    '  3 drainers vs 1, batch 10',
    formatRatio(ratio(b10x3, b10)),
    'in one Node process: the drain loops share one JS thread',
  );
  report(phase, 'batch 100, 3 drainers', formatRate(b100x3), describe('b100x3'));
  report(
    phase,
    '  3 drainers vs 1, batch 100',
    formatRatio(ratio(b100x3, b100)),
    'in one Node process: the drain loops share one JS thread',
  );
  comparisons.push(
    `drain batch 10, 1 drainer: ${formatRate(b10)} = ${formatRatio(ratio(b10, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim (made for ${ORIGINAL.workers} workers; its batch is 10)`,
    `drain batch 100, 1 drainer: ${formatRate(b100)} = ${formatRatio(ratio(b100, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
    `drain batch 10, 3 drainers: ${formatRate(b10x3)} = ${formatRatio(ratio(b10x3, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s with ${ORIGINAL.workers} workers (like for like)`,
    `drain batch 100, 3 drainers: ${formatRate(b100x3)} = ${formatRatio(ratio(b100x3, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s with ${ORIGINAL.workers} workers`,
    `scaling 1 → 3 drainers: ${formatRatio(ratio(b10x3, b10))} at batch 10, ${formatRatio(ratio(b100x3, b100))} at batch 100 (the original claims linear scaling, i.e. 3.0×)`,
  );
  phaseDone(phase);
}

/**
 * POST → processed with a continuous consumer (BLOCK reads). Completion is the moment the consumer's XACK returns:
 * the drain loop acknowledges only after the outcome is committed, so it is "processed and durable". Both ends are
 * read from this process's monotonic clock, so there is no clock skew in the figure.
 */
async function phaseEndToEnd(options: BenchOptions) {
  const phase = '(c) end to end, pg+ioredis';
  const rate = options.quick ? 100 : 200;
  const seconds = options.quick ? 3 : 15;
  const count = rate * seconds;
  const key = streamKey('e2e');
  // BLOCK 1000 rather than the default 5000 only so the loop notices "stop" sooner; BLOCK returns as soon as an
  // entry arrives, so the block length does not change latency.
  const blockMs = 1000;
  const config = benchConfig(key);
  const consumerStream = openIoredis(key, blockMs);
  await consumerStream.ensureGroup();

  const entryEvent = new Map<string, string>();
  const doneAt = new Map<string, number>();
  const remember = (entries: Awaited<ReturnType<EventStream['readNew']>>) => {
    for (const entry of entries) {
      try {
        entryEvent.set(entry.id, String((JSON.parse(entry.data ?? '{}') as { event_id?: unknown }).event_id));
      } catch {
        // not an event: it cannot be one we sent
      }
    }
    return entries;
  };
  const watched: EventStream = {
    ...consumerStream,
    readNew: async (consumer, readOptions) => remember(await consumerStream.readNew(consumer, readOptions)),
    claim: async (consumer, ids, minIdleMs) => remember(await consumerStream.claim(consumer, ids, minIdleMs)),
    async ack(ids) {
      const acked = await consumerStream.ack(ids);
      const at = performance.now();
      for (const id of ids) {
        const eventId = entryEvent.get(id);
        if (eventId !== undefined && !doneAt.has(eventId)) doneAt.set(eventId, at);
        entryEvent.delete(id);
      }
      return acked;
    },
  };
  let stopping = false;
  const drainer = createDrainer(
    { sql: openPg(), stream: watched, clock: systemClock, metrics: createPrometheusMetrics(), logger: quiet.logger },
    drainSettings(config, 'bench-e2e', { mode: 'continuous', blockMs }),
  );
  const loop = drainer.drain({ remainingMs: () => 600_000, marginMs: 0, shouldStop: () => stopping });

  const app = ingestApp(openPg(), openIoredis(key));
  await ingest(app, 'warm-up', 20, { batch: null, concurrency: 2 });
  progress(`${phase}: ${count} single POSTs at ${rate} ev/s with a continuous consumer`);
  const all = bodies(count);
  const sentAt = new Map<string, number>();
  const apiLatencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const tick = ticker('end to end', count);
  const begin = performance.now();
  for (let i = 0; i < count; i++) {
    // Open loop: request i starts when it is due, whatever happened to earlier ones (up to 256 in flight).
    const dueMs = (i / rate) * 1000 - (performance.now() - begin);
    if (dueMs > 0) await sleep(dueMs);
    while (inFlight.size >= 256) await Promise.race(inFlight);
    const request = (async () => {
      const t0 = performance.now();
      const result = await call(app, 'POST', '/events', all[i]);
      apiLatencies.push(performance.now() - t0);
      if (result.statusCode === 202) sentAt.set((JSON.parse(result.body) as { event_id: string }).event_id, t0);
    })().finally(() => inFlight.delete(request));
    inFlight.add(request);
    tick(i);
  }
  await Promise.all(inFlight);
  const sendMs = performance.now() - begin;
  const deadline = performance.now() + 30_000;
  while ([...sentAt.keys()].some((id) => !doneAt.has(id)) && performance.now() < deadline) await sleep(50);
  stopping = true;
  await loop;

  const latencies = [...sentAt].flatMap(([id, t0]) => {
    const t1 = doneAt.get(id);
    return t1 === undefined ? [] : [t1 - t0];
  });
  const e2e = summarize(latencies);
  const api = summarize(apiLatencies);
  if (latencies.length !== count)
    surprises.push(`end to end: ${latencies.length}/${count} events completed within 30 s of the last send`);
  report(
    phase,
    `${count} events at ${rate} ev/s`,
    formatRate(perSecond(count, sendMs)),
    `offered rate achieved; ${latencies.length} completed`,
  );
  report(phase, '  POST → processed (XACK after commit)', formatLatency(e2e), `max ${formatMs(e2e.max)}`);
  report(phase, '  API latency at this rate', formatLatency(api));
  comparisons.push(
    `end-to-end p95: ${formatMs(e2e.p95)} = ${formatRatio(ratio(e2e.p95, ORIGINAL.e2eP95Ms))} the original's "P95 < ${ORIGINAL.e2eP95Ms} ms" claim (lower is better)`,
  );
  phaseDone(phase);
}

/** Runs in the child: both local endpoints, their URLs on stdout, closed when the parent closes stdin (or dies). */
const ENDPOINTS_CHILD = `
const { startDataApiServer } = await import(process.env.EF_DATA_API_MODULE);
const { startUpstashRestServer } = await import(process.env.EF_UPSTASH_MODULE);
const dataApi = await startDataApiServer({ databaseUrl: process.env.EF_DATABASE_URL, port: 0 });
const upstash = await startUpstashRestServer({ redisUrl: process.env.EF_REDIS_URL, token: process.env.EF_TOKEN, port: 0 });
process.stdout.write(JSON.stringify({ dataApi: dataApi.url, upstash: upstash.url, token: upstash.token }) + '\\n');
process.stdin.on('data', () => {});
process.stdin.on('end', () => Promise.all([dataApi.close(), upstash.close()]).finally(() => process.exit(0)));`;

/**
 * The local endpoints in their own process: in production they are remote services with their own CPUs, so their
 * JSON and HTTP work must not queue behind the pipeline's on this process's one JS thread.
 */
async function startEndpointsProcess(): Promise<{ dataApi: { url: string }; upstash: { url: string; token: string } }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', ENDPOINTS_CHILD], {
    env: {
      ...process.env,
      EF_DATA_API_MODULE: import.meta.resolve('./local-endpoints/data-api.ts'),
      EF_UPSTASH_MODULE: import.meta.resolve('./local-endpoints/upstash-rest.ts'),
      EF_DATABASE_URL: DATABASE_URL,
      EF_REDIS_URL: REDIS_URL,
      EF_TOKEN: `bench-${RUN_ID}`,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  closers.push(async () => {
    child.stdin?.end();
    await Promise.race([exited, sleep(5000).then(() => child.kill())]);
  });
  const line = await new Promise<string>((resolvePromise, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end >= 0) resolvePromise(out.slice(0, end));
    });
    child.once('exit', (code) => reject(new Error(`the local endpoints process exited (${code}) before it was ready`)));
  });
  const urls = JSON.parse(line) as { dataApi: string; upstash: string; token: string };
  return { dataApi: { url: urls.dataApi }, upstash: { url: urls.upstash, token: urls.token } };
}

/** The Lambdas' production drivers, each behind its local HTTP endpoint (an extra hop the real services also have). */
async function phaseServerless(options: BenchOptions) {
  const phase = '(d) data-api+upstash';
  const count = Math.max(100, Math.round(options.events / 2));
  progress(`${phase}: starting the local Data API and Upstash endpoints in a child process`);
  const { dataApi, upstash } = await startEndpointsProcess();
  const openSql = (): SqlExecutor => {
    const sql = createDataApiExecutor({
      resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-bench',
      secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-bench',
      database: DATABASE,
      endpoint: dataApi.url,
      region: 'us-east-1',
    });
    closers.push(() => sql.close());
    return sql;
  };
  const openStream = (key: string): EventStream => {
    const stream = createUpstashStream({ url: upstash.url, token: upstash.token, streamKey: key, group: 'workers' });
    closers.push(() => stream.close());
    return stream;
  };

  const ingestKey = streamKey('serverless-ingest');
  const app = ingestApp(openSql(), openStream(ingestKey));
  await ingest(app, 'warm-up', 100, { batch: null, concurrency: 4 });
  const sequentialCount = Math.min(300, Math.round(count / 3));
  progress(`${phase}: single POST /events, ${sequentialCount} one at a time, then × ${count} with concurrency 16`);
  const sequential = await ingest(app, 'serverless single POST, one at a time', sequentialCount, { batch: null, concurrency: 1 });
  const single = await ingest(app, 'serverless single POST', count, { batch: null, concurrency: 16 });
  progress(`${phase}: POST /events/batch (100 per request) × ${count} events, concurrency 4`);
  const batch = await ingest(app, 'serverless batch POST', count, { batch: 100, concurrency: 4 });
  const drainKey = streamKey('serverless-drain');
  progress(`${phase}: batch 100, 1 drainer: preloading ${count} events`);
  await preload(ingestApp(openSql(), openStream(drainKey)), 'serverless drain', count);
  progress(`${phase}: batch 100, 1 drainer: draining`);
  const drain = await drainBacklog(
    'serverless drain',
    () => ({ sql: openSql(), stream: openStream(drainKey) }),
    drainKey,
    count,
    {
      batchSize: 100,
      drainers: 1,
    },
  );
  const drainRate = perSecond(drain.summary.processed, drain.elapsedMs);
  const { stats: sequentialStats } = reportIngest(
    phase,
    'single POST /events, 1 in flight',
    sequential,
    'API latency (unloaded)',
  );
  reportIngest(phase, 'single POST /events, 16 in flight', single, 'API latency (saturated)');
  reportIngest(phase, 'POST /events/batch of 100, 4 in flight', batch, 'API latency per batch request');
  report(
    phase,
    'drain batch 100, 1 drainer',
    formatRate(drainRate),
    `${drain.summary.processed} processed in ${drain.summary.batches} batches`,
  );
  comparisons.push(
    `data-api+upstash API p95, single POST one at a time: ${formatMs(sequentialStats.p95)} = ${formatRatio(ratio(sequentialStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (two local HTTP hops included)`,
    `data-api+upstash drain batch 100, 1 drainer: ${formatRate(drainRate)} = ${formatRatio(ratio(drainRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
  );
  phaseDone(phase);
}

// ---------------------------------------------------------------------------------------------------------------
// (e) Bundles: built like lib/eventflow-function.ts asks NodejsFunction to (esm, minified, createRequire banner),
// then imported by a fresh `node` so the figure is a cold module graph, not this process's warm cache.

const EXTERNALS = ['@electric-sql/pglite', 'pg-native'];
const BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";
const IMPORT_RUNS = 5;

/** Runs in the child: the time of `import()` of the bundle, then exits (the adapters hold sockets open). */
const IMPORT_PROBE = `
const t0 = performance.now();
await import(process.env.EF_BENCH_BUNDLE);
process.stdout.write(JSON.stringify({ importMs: performance.now() - t0 }));
process.exit(0);`;

function importOnce(bundle: string, env: Record<string, string>): Promise<{ importMs: number; processMs: number }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', IMPORT_PROBE], {
      env: { PATH: process.env.PATH ?? '', ...env, EF_BENCH_BUNDLE: pathToFileURL(bundle).href },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const processMs = performance.now() - t0;
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolvePromise({ importMs: (JSON.parse(out) as { importMs: number }).importMs, processMs });
      } catch (error) {
        reject(new Error(`importing ${bundle} failed (${(error as Error).message}): ${err.trim().slice(0, 500)}`));
      }
    });
  });
}

/**
 * Writes node_modules/<name> packages beside the bundle for the externals it imports statically, exporting the
 * imported names as functions that throw if called: enough to time the import, and loud if ever used.
 */
async function stubExternals(dir: string, bundle: string): Promise<string[]> {
  const text = await readFile(bundle, 'utf8');
  const stubbed: string[] = [];
  for (const external of EXTERNALS) {
    const names = new Set<string>();
    const escaped = external.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    for (const match of text.matchAll(new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*"${escaped}"`, 'g'))) {
      for (const part of (match[1] ?? '').split(',')) {
        const exported = part.trim().split(/\s+as\s+/)[0];
        if (exported) names.add(exported);
      }
    }
    if (names.size === 0) continue;
    const packageDir = join(dir, 'node_modules', ...external.split('/'));
    await mkdir(packageDir, { recursive: true });
    await writeFile(join(packageDir, 'package.json'), JSON.stringify({ name: external, type: 'module', main: 'index.js' }));
    const exports = [...names].map(
      (name) => `export function ${name}() { throw new Error('${external} is a bench stub: the bundle does not contain it'); }`,
    );
    await writeFile(join(packageDir, 'index.js'), `${exports.join('\n')}\n`);
    stubbed.push(external);
  }
  return stubbed;
}

/** "ioredis 132 KiB, …": bytes in the output by npm package (or project folder), largest first. */
function largestPackages(
  metafile: { outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }> },
  top: number,
): string {
  const bytes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path.split('/').slice(0, 2).join('/');
      bytes.set(name, (bytes.get(name) ?? 0) + input.bytesInOutput);
    }
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, size]) => `${name} ${formatNumber(size / 1024, 0)}`)
    .join(', ')
    .concat(' (KiB)');
}

async function phaseBundles() {
  const phase = '(e) Lambda bundles';
  const esbuild = await import('esbuild');
  bundleDir = await mkdtemp(join(tmpdir(), 'ef-bench-bundle-'));
  const entries = { ingest: 'lambdas/ingest/handler.ts', consumer: 'lambdas/consumer/handler.ts' } as const;
  progress(`${phase}: bundling ${Object.values(entries).join(', ')}`);
  const built: Record<string, string> = {};
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = join(bundleDir, `${name}.mjs`);
    const result = await esbuild.build({
      entryPoints: [resolve(entry)],
      metafile: true,
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      // Production targets node24 (the Lambda runtime); node20 so this machine can run the bundle. Sizes differ by
      // a few bytes of lowered syntax at most.
      target: 'node20',
      minify: true,
      banner: { js: BANNER },
      external: EXTERNALS,
      // As lib/eventflow-function.ts bundles: ESM builds of packages first, a source map without the sources.
      mainFields: ['module', 'main'],
      sourcemap: true,
      sourcesContent: false,
      logLevel: 'silent',
    });
    built[name] = outfile;
    const [code, map] = await Promise.all([stat(outfile), stat(`${outfile}.map`)]);
    report(phase, `${name} bundle (minified)`, formatKiB(code.size), `${entry}; source map ${formatKiB(map.size)}`);
    report(phase, '  largest parts', '', largestPackages(result.metafile, 6));
  }

  // The env each handler needs to build its adapters at import; nothing is contacted before the first request
  // except Redis, which ioredis dials in the background.
  const serverlessEnv: Record<string, string> = {
    SQL_DRIVER: 'data-api',
    DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-bench',
    DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-bench',
    RDS_DATA_ENDPOINT: 'http://127.0.0.1:9',
    STREAM_DRIVER: 'upstash',
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'bench',
    UPSTASH_DISABLE_TELEMETRY: '1',
    STREAM_KEY: streamKey('bundle'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const envs: Record<string, Record<string, string>> = {
    'pg+ioredis': { SQL_DRIVER: 'pg', DATABASE_URL, REDIS_URL, STREAM_KEY: streamKey('bundle') },
    'data-api+upstash': serverlessEnv,
    // The deployed functions run with NODE_OPTIONS=--enable-source-maps (lib/eventflow-function.ts).
    'data-api+upstash, source maps': { ...serverlessEnv, NODE_OPTIONS: '--enable-source-maps' },
  };
  // First as deployed: the bundle alone, with no node_modules to fall back on (the Lambda package has none).
  const pgEnv = envs['pg+ioredis'] as Record<string, string>;
  const stubbed: string[] = [];
  const failing: string[] = [];
  for (const [name, bundle] of Object.entries(built)) {
    try {
      await importOnce(bundle, pgEnv);
      report(phase, `${name} bundle imports standalone`, 'yes', 'no node_modules beside it, as in the Lambda package');
    } catch (error) {
      const missing = /Cannot find (?:package|module) '([^']+)'/.exec((error as Error).message)?.[1];
      if (!missing || !EXTERNALS.includes(missing)) throw error;
      report(
        phase,
        `${name} bundle imports standalone`,
        'NO',
        `ERR_MODULE_NOT_FOUND '${missing}': a static import of an external`,
      );
      surprises.push(
        `${name} bundle: a fresh node cannot import it without node_modules (ERR_MODULE_NOT_FOUND '${missing}'); ` +
          'the deployed Lambda would fail at cold start the same way. Import times below use a stub package for it.',
      );
      failing.push(bundle);
    }
  }
  // Stubs only after every bundle was tried as deployed: a stub would hide the same fault in the next bundle.
  for (const bundle of failing) stubbed.push(...(await stubExternals(bundleDir, bundle)));
  const stubNote = stubbed.length > 0 ? `; with stub ${[...new Set(stubbed)].join(', ')}` : '';
  for (const [name, bundle] of Object.entries(built)) {
    for (const [envName, env] of Object.entries(envs)) {
      progress(`${phase}: import ${name} bundle ×${IMPORT_RUNS} (${envName})`);
      const runs: Array<{ importMs: number; processMs: number }> = [];
      for (let i = 0; i < IMPORT_RUNS; i++) runs.push(await importOnce(bundle, env));
      report(
        phase,
        `${name} cold import() (${envName})`,
        formatMs(median(runs.map((r) => r.importMs))),
        `median of ${IMPORT_RUNS}; node start → imported ${formatMs(median(runs.map((r) => r.processMs)))}${stubNote}`,
      );
    }
  }
  phaseDone(phase);
}

// ---------------------------------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3000, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  } catch (error) {
    throw new ServiceMissingError(
      `cannot reach Redis at ${REDIS_URL} (${(error as Error).message}); start one with \`redis-server --daemonize yes\` or set REDIS_URL`,
      {
        cause: error,
      },
    );
  } finally {
    redis.disconnect();
  }
}

function printReport(options: BenchOptions, versions: { postgres: string; redis: string }): void {
  const cpu = cpus();
  const lines = [
    `EventFlow bench (${options.quick ? 'quick' : 'default'} run, ${options.events} events per throughput figure)`,
    `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}; node ${process.version}; Postgres ${versions.postgres}; Redis ${versions.redis}`,
    // Other work on the machine (tests, builds) moves every figure; the load average says how much there was.
    `load average (1 min): ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end, on ${cpu.length} cores`,
    'everything in one process except Postgres and Redis; no HTTP in front of the ingest app (the Lambda has none either);',
    '(d) runs the local Data API and Upstash endpoints in a child process: two more local HTTP hops, on the same 2 cores',
    '',
    renderTable(
      ['phase', 'measure', 'value', 'note'],
      rows.map((row) => [row.phase, row.measure, row.value, row.note]),
    ),
    '',
    '(f) RSS of this process after each phase',
    renderTable(
      ['after', 'rss'],
      rssAfter.map(([phase, rss]) => [phase, formatMiB(rss)]),
    ),
  ];
  if (comparisons.length > 0) lines.push('', "Against the original's README claims", ...comparisons.map((line) => `  ${line}`));
  const warnings = quiet.entries.filter((entry) => entry.level === 'warn' || entry.level === 'error');
  if (warnings.length > 0)
    surprises.push(`${warnings.length} warnings/errors logged by the pipeline, first: ${warnings[0]?.message}`);
  if (surprises.length > 0) lines.push('', 'Check these', ...surprises.map((line) => `  ${line}`));
  lines.push('', `total ${formatMs(performance.now() - started)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<number> {
  const options = readCommandLine(USAGE, FLAGS, toOptions);
  if (typeof options === 'number') return options;
  // The SDK and Upstash clients print notices on their own; they say nothing about the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.UPSTASH_DISABLE_TELEMETRY ??= '1';
  // The Data API client signs requests even to the local endpoint: give it something to sign with.
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';

  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: dropping ${DATABASE} and the ${KEY_PREFIX}:* keys…\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const versions = { postgres: '?', redis: '?' };
  let failure: unknown = null;
  try {
    versions.redis = await redisVersion();
    versions.postgres = await createDatabase();
    progress(`database ${DATABASE}, stream keys ${KEY_PREFIX}:*`);
    const sql = createPgExecutor({ connectionString: DATABASE_URL, max: 1 });
    try {
      await migrate(sql, loadMigrations());
    } finally {
      await sql.close();
    }
    phaseDone('setup');
    await phaseIngest(options);
    await phaseDrain(options);
    await phaseEndToEnd(options);
    await phaseServerless(options);
    await phaseBundles();
  } catch (error) {
    failure = error;
  } finally {
    progress('cleaning up');
    await cleanup();
  }
  if (rows.length > 0) printReport(options, versions);
  if (failure instanceof ServiceMissingError) {
    process.stderr.write(`bench: ${failure.message}\n`);
    return 1;
  }
  // Anything else is a bug or a broken phase: runMain prints it with its stack (cleanup has run already).
  if (failure !== null) throw failure;
  return 0;
}

// Adapters and endpoints are closed by then; exit explicitly so a straggling socket cannot keep the run alive.
void runMain(main, { name: 'bench', exit: true, onCrash: cleanup });
