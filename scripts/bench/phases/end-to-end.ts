// (c) end to end on pg+ioredis: POST → outcome committed, with a continuous consumer (BLOCK reads) in this process
// while single POSTs are offered open-loop at a moderate rate.
import { setTimeout as sleep } from 'node:timers/promises';
import { drainSettings } from '../../../lambdas/consumer/settings.ts';
import { createDrainer } from '../../../lambdas/core/drain/loop.ts';
import { createPrometheusMetrics } from '../../../lambdas/observability/prometheus-metrics.ts';
import { type EventStream, systemClock } from '../../../lambdas/ports.ts';
import { formatLatency, formatMs, formatRate, formatRatio, perSecond, ratio, summarize } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { call, ingest, ingestApp, inProcess, ORIGINAL, openLoop } from '../pipeline.ts';

/**
 * A stream whose acks record when each event's entry was acknowledged. The drain loop acknowledges only after the
 * outcome is committed, so the ack time is "processed and durable"; read from this process's monotonic clock.
 */
export function watchAcks(stream: EventStream): { stream: EventStream; doneAt: Map<string, number> } {
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
  const acked = (ids: readonly string[], at: number) => {
    for (const id of ids) {
      const eventId = entryEvent.get(id);
      if (eventId !== undefined && !doneAt.has(eventId)) doneAt.set(eventId, at);
      entryEvent.delete(id);
    }
  };
  const watched: EventStream = {
    ...stream,
    async readNew(consumer, readOptions) {
      // The drain sends a batch's XACK with its next read, which may then block: Redis runs the XACK on arrival.
      if (readOptions.ack) acked(readOptions.ack, performance.now());
      return remember(await stream.readNew(consumer, readOptions));
    },
    claim: async (consumer, ids, minIdleMs) => remember(await stream.claim(consumer, ids, minIdleMs)),
    async ack(ids) {
      const count = await stream.ack(ids);
      acked(ids, performance.now());
      return count;
    },
  };
  return { stream: watched, doneAt };
}

export async function phaseEndToEnd(run: BenchRun): Promise<void> {
  const phase = '(c) end to end, pg+ioredis';
  const rate = run.options.quick ? 100 : 200;
  const seconds = run.options.quick ? 3 : 15;
  const count = rate * seconds;
  const key = run.streamKey('e2e');
  // BLOCK 1000 rather than the default 5000 only so the loop notices "stop" sooner; BLOCK returns as soon as an
  // entry arrives, so the block length does not change latency.
  const blockMs = 1000;
  const config = run.config(key);
  const consumerStream = run.openIoredis(key, blockMs);
  await consumerStream.ensureGroup();
  const { stream: watched, doneAt } = watchAcks(consumerStream);
  let stopping = false;
  const drainer = createDrainer(
    {
      sql: run.openPg(),
      stream: watched,
      clock: systemClock,
      metrics: createPrometheusMetrics(),
      logger: run.quiet.logger,
    },
    drainSettings(config, 'bench-e2e', { mode: 'continuous', blockMs }),
  );
  const loop = drainer.drain({ remainingMs: () => 600_000, marginMs: 0, shouldStop: () => stopping });

  const app = ingestApp(run, run.openPg(), run.openIoredis(key));
  await ingest(run, inProcess(app), 'warm-up', 20, { batch: null, concurrency: 2 });
  run.progress(`${phase}: ${count} single POSTs at ${rate} ev/s with a continuous consumer`);
  const all = run.bodies(count);
  const sentAt = new Map<string, number>();
  const apiLatencies: number[] = [];
  const tick = run.ticker('end to end', count);
  const begin = performance.now();
  await openLoop(count, rate, 256, async (i) => {
    tick(i);
    const t0 = performance.now();
    const result = await call(app, 'POST', '/events', all[i]);
    apiLatencies.push(performance.now() - t0);
    if (result.statusCode === 202) sentAt.set((JSON.parse(result.body) as { event_id: string }).event_id, t0);
  });
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
    run.surprises.push(`end to end: ${latencies.length}/${count} events completed within 30 s of the last send`);
  run.report(
    phase,
    `${count} events at ${rate} ev/s`,
    formatRate(perSecond(count, sendMs)),
    `sent rate (offered ${formatRate(rate)}); ${latencies.length} completed`,
  );
  run.report(phase, '  POST → processed (XACK after commit)', formatLatency(e2e), `max ${formatMs(e2e.max)}`);
  run.report(phase, '  API latency at this rate', formatLatency(api));
  run.comparisons.push(
    `end-to-end p95: ${formatMs(e2e.p95)} = ${formatRatio(ratio(e2e.p95, ORIGINAL.e2eP95Ms))} the original's "P95 < ${ORIGINAL.e2eP95Ms} ms" claim (lower is better)`,
  );
  run.phaseDone(phase);
}
