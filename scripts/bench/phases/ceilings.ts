// (0) This machine's ceilings, measured first in the same run so every EventFlow figure can print its ratio to the
// limit that bounds it: bare HTTP, Redis XADD (unpipelined, pipelined by 100), Postgres single-row INSERT … ON
// CONFLICT (1 and 8 connections) and a 500-row multi-row INSERT. Tables live in an own schema, dropped after.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { formatRate, perSecond } from '../../lib/stats.ts';
import { type BenchRun, CEILING_NAMES, type Ceilings } from '../context.ts';
import { httpSender, startChild } from '../lib/http-load.ts';
import { bounded } from '../pipeline.ts';

const SCHEMA = 'bench_ceiling';

/** Shaped like raw_events and processed_events (schemas/migrations/001_initial.sql, 003), with the same indexes. */
const DDL = `
CREATE SCHEMA ${SCHEMA};
CREATE TABLE ${SCHEMA}.raw_events (
  event_id uuid PRIMARY KEY, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
  outcome text, outcome_at timestamptz, republished_at timestamptz);
CREATE INDEX ON ${SCHEMA}.raw_events (received_at) WHERE outcome IS NULL;
CREATE TABLE ${SCHEMA}.processed_events (
  event_id uuid PRIMARY KEY, event_type text NOT NULL, user_id text, occurred_at timestamptz NOT NULL,
  properties jsonb NOT NULL, enriched_data jsonb NOT NULL, processed_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL);`;

const MULTI_ROWS = 500;
const COLUMNS = 7;
const MULTI_INSERT = `INSERT INTO ${SCHEMA}.processed_events
  (event_id, event_type, user_id, occurred_at, properties, enriched_data, attempts) VALUES ${Array.from(
    { length: MULTI_ROWS },
    (_, row) => `(${Array.from({ length: COLUMNS }, (_, column) => `$${row * COLUMNS + column + 1}`).join(', ')})`,
  ).join(', ')}
  ON CONFLICT (event_id) DO NOTHING`;

/** Times `count` operations run by `work` with `concurrency` lanes; the rate in operations per second. */
async function rate(count: number, concurrency: number, work: (index: number) => Promise<unknown>): Promise<number | null> {
  const begin = performance.now();
  await bounded(count, concurrency, async (index) => {
    await work(index);
  });
  return perSecond(count, performance.now() - begin);
}

async function postgresCeilings(run: BenchRun, count: number): Promise<Partial<Ceilings>> {
  const pool = new pg.Pool({ connectionString: run.databaseUrl, max: 8 });
  try {
    await pool.query(DDL);
    const payloads = run.bodies(count).map((body) => JSON.stringify(body));
    const single = `INSERT INTO ${SCHEMA}.raw_events (event_id, payload) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`;
    const insertSingle = (index: number) => pool.query(single, [randomUUID(), payloads[index % payloads.length]]);
    // Connections opened and warm before the clock starts.
    await rate(64, 8, insertSingle);
    run.progress(`(0) ceilings: Postgres single-row INSERT … ON CONFLICT, 1 then 8 connections`);
    const insertSingle1 = await rate(Math.max(200, Math.round(count / 5)), 1, insertSingle);
    const insertSingle8 = await rate(count, 8, insertSingle);

    run.progress(`(0) ceilings: Postgres ${MULTI_ROWS}-row multi-row INSERT`);
    const enriched = JSON.stringify({ amount_bucket: 'medium', is_weekend: false, hour_of_day: 14, day_of_week: 'monday' });
    const statements = Math.max(4, Math.round((count * 2) / MULTI_ROWS));
    const multiValues = () => {
      const values: unknown[] = [];
      for (let row = 0; row < MULTI_ROWS; row++) {
        values.push(randomUUID(), 'purchase', `u${row}`, new Date().toISOString(), payloads[row % payloads.length], enriched, 1);
      }
      return values;
    };
    const prepared = Array.from({ length: statements }, multiValues);
    await pool.query(MULTI_INSERT, multiValues()); // warm-up
    const multi = await rate(statements, 1, (index) => pool.query(MULTI_INSERT, prepared[index]));
    return { insertSingle1, insertSingle8, insertMulti500: multi === null ? null : multi * MULTI_ROWS };
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {}); // the database is dropped at the end anyway
    await pool.end();
  }
}

async function redisCeilings(run: BenchRun, count: number): Promise<Partial<Ceilings>> {
  const redis = new Redis(run.redisUrl, { maxRetriesPerRequest: 1 });
  const key = run.streamKey('ceiling-xadd');
  try {
    const data = JSON.stringify(run.bodies(1)[0]);
    const xadd = () => redis.xadd(key, '*', 'data', data);
    await rate(100, 1, xadd);
    run.progress(`(0) ceilings: Redis XADD, one at a time then pipelined by 100`);
    const xaddUnpipelined = await rate(count, 1, xadd);
    const pipelines = Math.max(10, Math.round((count * 5) / 100));
    const pipelined = await rate(pipelines, 1, () => {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 100; i++) pipeline.xadd(key, '*', 'data', data);
      return pipeline.exec();
    });
    return { xaddUnpipelined, xaddPipelined: pipelined === null ? null : pipelined * 100 };
  } finally {
    await redis.del(key);
    redis.disconnect();
  }
}

/** A bare server in its own process (like the EventFlow server in phase h), driven by the bench's HTTP client. */
async function httpCeiling(run: BenchRun, count: number, concurrency: number): Promise<number | null> {
  const { child, match: url } = await startChild(
    run,
    [new URL('../children/bare-http.ts', import.meta.url).pathname],
    { PATH: process.env.PATH },
    /^(http:\/\/\S+)\n/m,
  );
  const client = httpSender(url, concurrency);
  try {
    const body = run.bodies(1)[0];
    await rate(200, concurrency, () => client.send('/events', body));
    run.progress(`(0) ceilings: bare HTTP 202, ${count} requests, ${concurrency} in flight`);
    return await rate(count, concurrency, () => client.send('/events', body));
  } finally {
    client.close();
    child.stdin?.end();
  }
}

/** The concurrency of the HTTP figures (phase h) and of their ceiling. */
export const HTTP_CONCURRENCY = 16;

export async function phaseCeilings(run: BenchRun): Promise<void> {
  const phase = '(0) ceilings';
  const { events } = run.options;
  Object.assign(run.ceilings, await postgresCeilings(run, events));
  Object.assign(run.ceilings, await redisCeilings(run, events));
  run.ceilings.httpBare = await httpCeiling(run, events, HTTP_CONCURRENCY);
  for (const [name, value] of Object.entries(run.ceilings) as Array<[keyof Ceilings, number | null]>) {
    run.report(phase, CEILING_NAMES[name], formatRate(value));
  }
  run.phaseDone(phase);
}
