// (a) ingest on pg+ioredis: the real ingest app called in-process with API Gateway events, as Lambda calls it.
// Single POSTs one at a time and 16 in flight, then the batch route; 50 warm-up requests first.
import { formatMs, formatRate, formatRatio, perSecond, ratio, type Summary } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { ingest, ingestApp, inProcess, ORIGINAL, reportIngest, reportUnloaded } from '../pipeline.ts';

export interface IngestFigures {
  readonly singleRate: number | null;
  readonly batchRate: number | null;
  readonly singleStats: Summary;
}

export async function phaseIngest(run: BenchRun): Promise<IngestFigures> {
  const phase = '(a) ingest, pg+ioredis';
  const { events } = run.options;
  run.progress(`${phase}: single POST /events, one at a time, then × ${events} with concurrency 16`);
  const app = inProcess(ingestApp(run, run.openPg(), run.openIoredis(run.streamKey('ingest'))));
  // A few requests first so connection set-up and JIT warm-up do not land in the figures.
  await ingest(run, app, 'warm-up', 50, { batch: null, concurrency: 4 });
  const sequentialCount = Math.min(1000, Math.round(events / 3));
  const sequential = await run.profile('ingest-single-1', () =>
    ingest(run, app, 'single POST /events, one at a time', sequentialCount, { batch: null, concurrency: 1 }),
  );
  const { stats: sequentialStats } = reportUnloaded(run, phase, sequential);
  run.reportRatio(phase, perSecond(sequential.accepted, sequential.elapsedMs), 'insertSingle1');
  const single = await run.profile('ingest-single-16', () =>
    ingest(run, app, 'single POST /events', events, { batch: null, concurrency: 16 }),
  );
  const { rate: singleRate, stats: singleStats } = reportIngest(
    run,
    phase,
    'single POST /events, 16 in flight',
    single,
    'API latency (saturated: requests queue for the pool)',
  );
  run.reportRatio(phase, singleRate, 'insertSingle8', '≥ 0.60×');

  run.progress(`${phase}: POST /events/batch (100 per request) × ${events} events, concurrency 4`);
  const batch = await run.profile('ingest-batch-100', () =>
    ingest(run, app, 'POST /events/batch', events, { batch: 100, concurrency: 4 }),
  );
  const { rate: batchRate } = reportIngest(
    run,
    phase,
    'POST /events/batch of 100, 4 in flight',
    batch,
    'API latency per batch request',
    (stats) => `${formatMs(stats.p50 === null ? null : stats.p50 / 100)} per event at p50`,
  );
  run.reportRatio(phase, batchRate, 'insertMulti500', '≥ 0.40×');
  run.report(phase, '  batch vs single throughput', formatRatio(ratio(batchRate, singleRate)));

  run.comparisons.push(
    `API p95, single POST one at a time: ${formatMs(sequentialStats.p95)} = ${formatRatio(ratio(sequentialStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (lower is better; in-process, no HTTP hop)`,
    `API p95, single POST 16 in flight: ${formatMs(singleStats.p95)} = ${formatRatio(ratio(singleStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (a saturated API: queueing included)`,
    `ingest, single POST: ${formatRate(singleRate)} = ${formatRatio(ratio(singleRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
    `ingest, batch of 100: ${formatRate(batchRate)} = ${formatRatio(ratio(batchRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
  );
  run.phaseDone(phase);
  return { singleRate, batchRate, singleStats };
}
