// (d) data-api+upstash: the Lambdas' production drivers, each behind its local HTTP endpoint (an extra hop the real
// services also have), with the endpoints in a child process so their work does not queue on this JS thread.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDataApiExecutor } from '../../../lambdas/adapters/sql/data-api.ts';
import { createUpstashStream } from '../../../lambdas/adapters/stream/upstash.ts';
import type { EventStream, SqlExecutor } from '../../../lambdas/ports.ts';
import { formatMs, formatRate, formatRatio, perSecond, ratio, type Summary } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import type { Counts } from '../lib/counters.ts';
import {
  drainBacklog,
  type IngestRun,
  ingest,
  ingestApp,
  inProcess,
  ORIGINAL,
  preload,
  reportIngest,
  reportUnloaded,
} from '../pipeline.ts';

export interface LocalEndpoints {
  readonly dataApi: string;
  readonly upstash: string;
  readonly token: string;
  readonly sqs: string;
  readonly dlqUrl: string;
  readonly fallbackUrl: string;
  /** The endpoints process's request counters (lib/counters.ts) at this moment. */
  counts(): Promise<Counts>;
}

/** Starts children/endpoints.ts under tsx; it is stopped by the run's cleanup (or closeOpened after the phase). */
export async function startEndpointsProcess(run: BenchRun): Promise<LocalEndpoints> {
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), new URL('../children/endpoints.ts', import.meta.url).pathname],
    {
      env: {
        ...process.env,
        EF_DATABASE_URL: run.databaseUrl,
        EF_REDIS_URL: run.redisUrl,
        EF_TOKEN: `bench-${run.runId}`,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  run.onCleanup(async () => {
    child.stdin?.end();
    await Promise.race([exited, sleep(5000).then(() => child.kill())]);
  });
  // One JSON line per answer: the URLs first, then one per "counts" request, in order.
  const waiting: Array<(line: string) => void> = [];
  const early: string[] = [];
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (let end = out.indexOf('\n'); end >= 0; end = out.indexOf('\n')) {
      const line = out.slice(0, end);
      out = out.slice(end + 1);
      const next = waiting.shift();
      if (next) next(line);
      else early.push(line);
    }
  });
  let exitCode: number | null | undefined;
  child.once('exit', (code) => {
    exitCode = code;
    for (const next of waiting.splice(0)) next('');
  });
  const nextLine = async () => {
    const line =
      early.shift() ??
      (exitCode === undefined ? await new Promise<string>((resolvePromise) => waiting.push(resolvePromise)) : '');
    if (line === '') throw new Error(`the local endpoints process exited (${exitCode})`);
    return line;
  };
  const urls = JSON.parse(await nextLine()) as Omit<LocalEndpoints, 'counts'>;
  return {
    ...urls,
    async counts() {
      child.stdin?.write('counts\n');
      return JSON.parse(await nextLine()) as Counts;
    },
  };
}

/** A Data API executor on the endpoints process, closed by the run's cleanup. */
export function openDataApi(run: BenchRun, endpoints: LocalEndpoints): SqlExecutor {
  const sql = createDataApiExecutor({
    resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-bench',
    secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-bench',
    database: run.database,
    endpoint: endpoints.dataApi,
    region: 'us-east-1',
  });
  run.onCleanup(() => sql.close());
  return sql;
}

/** An Upstash stream on the endpoints process (group "workers"), closed by the run's cleanup. */
export function openUpstash(run: BenchRun, endpoints: LocalEndpoints, streamKey: string): EventStream {
  const stream = createUpstashStream({ url: endpoints.upstash, token: endpoints.token, streamKey, group: 'workers' });
  run.onCleanup(() => stream.close());
  return stream;
}

export interface ServerlessFigures {
  readonly sequential: IngestRun;
  readonly sequentialStats: Summary;
  readonly drainRate: number | null;
}

export async function phaseServerless(run: BenchRun): Promise<ServerlessFigures> {
  const phase = '(d) data-api+upstash';
  const count = Math.max(100, Math.round(run.options.events / 2));
  run.progress(`${phase}: starting the local Data API and Upstash endpoints in a child process`);
  const endpoints = await startEndpointsProcess(run);
  const openSql = () => openDataApi(run, endpoints);
  const openStream = (key: string) => openUpstash(run, endpoints, key);

  const ingestKey = run.streamKey('serverless-ingest');
  const app = inProcess(ingestApp(run, openSql(), openStream(ingestKey)));
  await ingest(run, app, 'warm-up', 100, { batch: null, concurrency: 4 });
  const sequentialCount = Math.min(300, Math.round(count / 3));
  run.progress(`${phase}: single POST /events, ${sequentialCount} one at a time, then × ${count} with concurrency 16`);
  const sequential = await ingest(run, app, 'serverless single POST, one at a time', sequentialCount, {
    batch: null,
    concurrency: 1,
  });
  const single = await ingest(run, app, 'serverless single POST', count, { batch: null, concurrency: 16 });
  run.progress(`${phase}: POST /events/batch (100 per request) × ${count} events, concurrency 4`);
  const batch = await ingest(run, app, 'serverless batch POST', count, { batch: 100, concurrency: 4 });
  const drainKey = run.streamKey('serverless-drain');
  run.progress(`${phase}: batch 100, 1 drainer: preloading ${count} events`);
  await preload(run, ingestApp(run, openSql(), openStream(drainKey)), 'serverless drain', count);
  run.progress(`${phase}: batch 100, 1 drainer: draining`);
  const drain = await drainBacklog(
    run,
    'serverless drain',
    () => ({ sql: openSql(), stream: openStream(drainKey) }),
    drainKey,
    count,
    { batchSize: 100, drainers: 1 },
  );
  const drainRate = perSecond(drain.summary.processed, drain.elapsedMs);
  const { stats: sequentialStats } = reportUnloaded(run, phase, sequential);
  reportIngest(run, phase, 'single POST /events, 16 in flight', single, 'API latency (saturated)');
  reportIngest(run, phase, 'POST /events/batch of 100, 4 in flight', batch, 'API latency per batch request');
  run.report(
    phase,
    'drain batch 100, 1 drainer',
    formatRate(drainRate),
    `${drain.summary.processed} processed in ${drain.summary.batches} batches`,
  );
  run.comparisons.push(
    `data-api+upstash API p95, single POST one at a time: ${formatMs(sequentialStats.p95)} = ${formatRatio(ratio(sequentialStats.p95, ORIGINAL.apiMs))} the original's "< ${ORIGINAL.apiMs} ms" claim (two local HTTP hops included)`,
    `data-api+upstash drain batch 100, 1 drainer: ${formatRate(drainRate)} = ${formatRatio(ratio(drainRate, ORIGINAL.eventsPerSecond))} the original's ${ORIGINAL.eventsPerSecond} ev/s claim`,
  );
  run.phaseDone(phase);
  return { sequential, sequentialStats, drainRate };
}
