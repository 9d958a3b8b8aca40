// (h) Through `npm start`'s server over HTTP, the path a local user takes: single POSTs and batches with the
// server's own consumer running, then end to end (POST → outcome row) at an open-loop rate, and the server's RSS.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { formatLatency, formatMiB, formatMs, formatRate, perSecond, summarize } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { httpSender, rssOf } from '../lib/http-load.ts';
import { startLocalServer } from '../lib/local-server.ts';
import { ingest, openLoop, reportIngest } from '../pipeline.ts';
import { HTTP_CONCURRENCY } from './ceilings.ts';

/** Wall-clock milliseconds with sub-millisecond precision, comparable with Postgres's now() on this machine. */
const epochMs = () => performance.timeOrigin + performance.now();

export async function phaseHttp(run: BenchRun): Promise<void> {
  const phase = '(h) HTTP, npm start';
  const { events, quick } = run.options;
  run.progress(`${phase}: starting the bundled scripts/start.ts (API and consumer) on this run's database`);
  const { child, match: url } = await startLocalServer(run, run.streamKey('http'), 'all');
  const client = httpSender(url, HTTP_CONCURRENCY);
  await ingest(run, client.send, 'warm-up', 200, { batch: null, concurrency: 4 });

  run.progress(`${phase}: single POST /events × ${events}, ${HTTP_CONCURRENCY} in flight`);
  const single = await ingest(run, client.send, 'HTTP single POST', events, { batch: null, concurrency: HTTP_CONCURRENCY });
  const { rate: singleRate } = reportIngest(
    run,
    phase,
    `single POST /events, ${HTTP_CONCURRENCY} in flight`,
    single,
    'API latency',
  );
  run.reportRatio(phase, singleRate, 'httpBare');
  run.reportRatio(phase, singleRate, 'insertSingle8', '≥ 0.60× (issue 11: ≥ 4 k/s)');

  run.progress(`${phase}: POST /events/batch × ${events} events, 4 in flight`);
  const batch = await ingest(run, client.send, 'HTTP batch POST', events, { batch: 100, concurrency: 4 });
  const { rate: batchRate } = reportIngest(run, phase, 'POST /events/batch of 100, 4 in flight', batch, 'API latency per batch');
  run.reportRatio(phase, batchRate, 'insertMulti500', '≥ 0.40×');
  client.close();

  // End to end: open loop at a rate the server sustains here, then at issue 11's 1,000 ev/s.
  let rss = await endToEnd(run, phase, url, quick ? 100 : 200, quick ? 2 : 5, child.pid);
  if (!quick) rss = await endToEnd(run, phase, url, 1000, 5, child.pid, 'goal p95 ≤ 20 ms, p99 ≤ 50 ms at 1,000 ev/s');
  run.report(
    phase,
    'server RSS after the load',
    rss === null ? '-' : formatMiB(rss),
    'one process (node dist/start/start.mjs, as `npm start` runs it); goal ≤ 100 MB',
  );
  run.phaseDone(phase);
}

/**
 * Offers `rate × seconds` single POSTs open loop; an event is done when its processed_events row exists, at that
 * row's processed_at (Postgres's clock: the same machine's clock as the send time). Returns the server's RSS.
 */
async function endToEnd(
  run: BenchRun,
  phase: string,
  url: string,
  rate: number,
  seconds: number,
  pid: number | undefined,
  goal = '',
): Promise<number | null> {
  const count = rate * seconds;
  // Let the consumer finish any backlog first, so the latencies are not queueing behind it.
  await sleep(1000);
  run.progress(`${phase}: end to end, ${count} single POSTs at ${rate} ev/s`);
  const open = httpSender(url, 256);
  const bodies = run.bodies(count);
  const sentAt = new Map<string, number>();
  const begin = performance.now();
  await openLoop(count, rate, 256, async (i) => {
    const t0 = epochMs();
    const result = await open.send('/events', bodies[i]);
    if (result.statusCode === 202) sentAt.set((JSON.parse(result.body) as { event_id: string }).event_id, t0);
  });
  const sendMs = performance.now() - begin;
  open.close();
  const rss = await rssOf(pid);

  const db = new pg.Client({ connectionString: run.databaseUrl });
  await db.connect();
  const ids = [...sentAt.keys()];
  const done = new Map<string, number>();
  try {
    const deadline = performance.now() + 30_000;
    while (done.size < ids.length && performance.now() < deadline) {
      const rows = await db.query<{ event_id: string; at: string }>(
        'SELECT event_id::text, extract(epoch FROM processed_at) * 1000 AS at FROM processed_events WHERE event_id = ANY($1::uuid[])',
        [ids.filter((id) => !done.has(id))],
      );
      for (const row of rows.rows) done.set(row.event_id, Number(row.at));
      if (done.size < ids.length) await sleep(200);
    }
  } finally {
    await db.end();
  }
  const latencies = ids.flatMap((id) => {
    const at = done.get(id);
    const t0 = sentAt.get(id);
    return at === undefined || t0 === undefined ? [] : [at - t0];
  });
  if (latencies.length !== count) {
    run.surprises.push(`HTTP end to end at ${rate} ev/s: ${latencies.length}/${count} processed within 30 s`);
  }
  const e2e = summarize(latencies);
  run.report(
    phase,
    `end to end, ${count} events at ${rate} ev/s`,
    formatRate(perSecond(count, sendMs)),
    `sent rate (offered ${formatRate(rate)}); ${latencies.length} processed`,
  );
  run.report(
    phase,
    '  POST sent → outcome row (processed_at)',
    formatLatency(e2e),
    `max ${formatMs(e2e.max)}${goal ? `; ${goal}` : ''}`,
  );
  return rss;
}
