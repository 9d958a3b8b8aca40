// (b) drain on pg+ioredis: a backlog loaded through the batch route, drained in scheduled mode at batch 10 and 100
// by 1 and 3 drain loops (each with its own pool and connection, all in this one Node process).
import { formatMs, formatRate, formatRatio, perSecond, ratio } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { type DrainRun, drainBacklog, ingestApp, ORIGINAL, preload } from '../pipeline.ts';

export interface DrainFigures {
  readonly b10: number | null;
  readonly b100: number | null;
  readonly b10x3: number | null;
  readonly b100x3: number | null;
}

const EXPERIMENTS = [
  { name: 'b10x1', batchSize: 10, drainers: 1 },
  { name: 'b100x1', batchSize: 100, drainers: 1 },
  { name: 'b10x3', batchSize: 10, drainers: 3 },
  { name: 'b100x3', batchSize: 100, drainers: 3 },
] as const;

export async function phaseDrain(run: BenchRun): Promise<DrainFigures> {
  const phase = '(b) drain, pg+ioredis';
  const { events } = run.options;
  const runs: Record<string, DrainRun> = {};
  for (const experiment of EXPERIMENTS) {
    const key = run.streamKey(`drain-${experiment.name}`);
    const app = ingestApp(run, run.openPg(), run.openIoredis(key));
    const label = `batch ${experiment.batchSize}, ${experiment.drainers} drainer${experiment.drainers > 1 ? 's' : ''}`;
    run.progress(`${phase}: ${label}: preloading ${events} events`);
    await preload(run, app, label, events);
    run.progress(`${phase}: ${label}: draining`);
    runs[experiment.name] = await run.profile(`drain-${experiment.name}`, () =>
      drainBacklog(run, label, () => ({ sql: run.openPg(), stream: run.openIoredis(key) }), key, events, experiment),
    );
  }
  const rate = (name: string) => {
    const result = runs[name];
    return result ? perSecond(result.summary.processed, result.elapsedMs) : null;
  };
  const [b10, b100, b10x3, b100x3] = [rate('b10x1'), rate('b100x1'), rate('b10x3'), rate('b100x3')];
  const describe = (name: string) => {
    const result = runs[name];
    return result
      ? `${result.summary.processed} processed in ${result.summary.batches} batches, ${formatMs(result.elapsedMs)}`
      : '';
  };
  run.report(phase, 'batch 10, 1 drainer', formatRate(b10), describe('b10x1'));
  run.report(phase, 'batch 100, 1 drainer', formatRate(b100), describe('b100x1'));
  run.reportRatio(phase, b100, 'insertMulti500', '≥ 0.40×');
  run.report(phase, '  batch 100 vs batch 10', formatRatio(ratio(b100, b10)));
  run.report(phase, 'batch 10, 3 drainers', formatRate(b10x3), `${describe('b10x3')} (the original's set-up)`);
  const oneThread = 'in one Node process: the drain loops share one JS thread';
  run.report(phase, '  3 drainers vs 1, batch 10', formatRatio(ratio(b10x3, b10)), oneThread);
  run.report(phase, 'batch 100, 3 drainers', formatRate(b100x3), describe('b100x3'));
  run.reportRatio(phase, b100x3, 'insertMulti500');
  run.report(phase, '  3 drainers vs 1, batch 100', formatRatio(ratio(b100x3, b100)), oneThread);
  const claim = `the original's ${ORIGINAL.eventsPerSecond} ev/s`;
  run.comparisons.push(
    `drain batch 10, 1 drainer: ${formatRate(b10)} = ${formatRatio(ratio(b10, ORIGINAL.eventsPerSecond))} ${claim} claim (made for ${ORIGINAL.workers} workers; its batch is 10)`,
    `drain batch 100, 1 drainer: ${formatRate(b100)} = ${formatRatio(ratio(b100, ORIGINAL.eventsPerSecond))} ${claim} claim`,
    `drain batch 10, 3 drainers: ${formatRate(b10x3)} = ${formatRatio(ratio(b10x3, ORIGINAL.eventsPerSecond))} ${claim} with ${ORIGINAL.workers} workers (like for like)`,
    `drain batch 100, 3 drainers: ${formatRate(b100x3)} = ${formatRatio(ratio(b100x3, ORIGINAL.eventsPerSecond))} ${claim} with ${ORIGINAL.workers} workers`,
    `scaling 1 → 3 drainers: ${formatRatio(ratio(b10x3, b10))} at batch 10, ${formatRatio(ratio(b100x3, b100))} at batch 100 (the original claims linear scaling, i.e. 3.0×)`,
  );
  run.phaseDone(phase);
  return { b10, b100, b10x3, b100x3 };
}
