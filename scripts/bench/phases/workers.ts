// (w) Consumer processes: 1, 2 and 3 `npm start -- --consumer-only` processes drain one backlog through one group.
// The backlog is loaded into a staging stream first and RENAMEd onto the consumers' key once all of them are up (the
// rename wakes their blocked reads), so process start-up is not in the figure.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { formatMs, formatNumber, formatRate, formatRatio, perSecond, ratio } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { cpuTicks } from '../lib/http-load.ts';
import { startLocalServer } from '../lib/local-server.ts';
import { ingestApp, preload } from '../pipeline.ts';

/** Entries the group has not yet acknowledged: never delivered (lag) plus delivered and pending. */
async function outstanding(redis: Redis, key: string): Promise<number> {
  const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
  for (const group of groups) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < group.length; i += 2) fields.set(String(group[i]), group[i + 1]);
    if (fields.get('name') === 'workers') return Number(fields.get('lag') ?? 0) + Number(fields.get('pending') ?? 0);
  }
  return Number.POSITIVE_INFINITY;
}

export async function phaseWorkers(run: BenchRun): Promise<void> {
  const phase = '(w) consumer processes';
  // Three times the other phases' sample: at 10-15 k ev/s a 10,000 backlog drains in under a second, too short to
  // tell 2 processes from 3 through start-up batches and the 20 ms completion polling.
  const events = run.options.events * 3;
  const redis = new Redis(run.redisUrl, { maxRetriesPerRequest: 1 });
  run.onCleanup(async () => redis.disconnect());
  const rates = new Map<number, number | null>();
  for (const processes of [1, 2, 3]) {
    const key = run.streamKey(`workers-${processes}`);
    const staging = run.streamKey(`workers-${processes}-staging`);
    const stagingStream = run.openIoredis(staging);
    await stagingStream.ensureGroup();
    run.progress(`${phase}: ${processes}: preloading ${events} events`);
    await preload(run, ingestApp(run, run.openPg(), stagingStream), `workers ${processes}`, events);
    run.progress(`${phase}: ${processes}: starting ${processes} × scripts/start.ts --consumer-only`);
    const children = await Promise.all(Array.from({ length: processes }, () => startLocalServer(run, key, 'consumer-only')));
    // A small backlog first, so the figure is not the processes' first (unoptimised, JIT-cold) batches.
    const warmUp = run.openIoredis(key);
    await preload(run, ingestApp(run, run.openPg(), warmUp), `workers ${processes} warm-up`, 100 * processes * 5);
    while ((await outstanding(redis, key)) > 0) await sleep(20);
    const cpuBefore = await cpuTicks();
    const begin = performance.now();
    await redis.rename(staging, key);
    const deadline = begin + 120_000;
    while ((await outstanding(redis, key)) > 0 && performance.now() < deadline) await sleep(20);
    const elapsedMs = performance.now() - begin;
    const cpuAfter = await cpuTicks();
    // Everything on the machine: these processes, Postgres, Redis, the bench, and whatever else runs.
    const busy =
      cpuBefore && cpuAfter && cpuAfter.total > cpuBefore.total
        ? `; machine CPU ${formatNumber(((cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total)) * 100, 0)} % busy`
        : '';
    const rate = perSecond(events, elapsedMs);
    rates.set(processes, rate);
    run.report(
      phase,
      `${processes} process${processes > 1 ? 'es' : ''}, batch 100`,
      formatRate(rate),
      `${events} drained in ${formatMs(elapsedMs)}${busy}`,
    );
    run.reportRatio(phase, rate, 'insertMulti500', processes === 1 ? '≥ 0.40×' : undefined);
    for (const { child } of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        ({ child }) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null))),
      ),
    );
  }
  const one = rates.get(1) ?? null;
  run.report(phase, '  2 processes vs 1', formatRatio(ratio(rates.get(2) ?? null, one)));
  run.report(
    phase,
    '  3 processes vs 1',
    formatRatio(ratio(rates.get(3) ?? null, one)),
    'goal ≥ 2.5×; 2 cores shared with Postgres, Redis and this bench',
  );
  run.phaseDone(phase);
}
