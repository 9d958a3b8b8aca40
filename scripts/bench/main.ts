// `npm run bench`: measures ingest, drain, end-to-end latency, the serverless adapters, bundle size and cold import on
// this machine, and prints the figures beside the original's claims. Never asserts a timing; never touches anything
// but its own throwaway database and stream keys, which it drops even when a phase fails.
import { mkdir } from 'node:fs/promises';
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { migrate } from '../../lambdas/core/migrations.ts';
import { describeError, type FlagValues, integerBetween, parseNumber, readCommandLine, runMain, UsageError } from '../lib/cli.ts';
import { type BenchOptions, BenchRun, ServiceMissingError } from './context.ts';
import { phaseBundles } from './phases/bundles.ts';
import { phaseCeilings } from './phases/ceilings.ts';
import { phaseCost } from './phases/cost.ts';
import { phaseDrain } from './phases/drain.ts';
import { phaseEndToEnd } from './phases/end-to-end.ts';
import { phaseHttp } from './phases/http.ts';
import { phaseIngest } from './phases/ingest.ts';
import { phaseServerless } from './phases/serverless.ts';
import { phaseWorkers } from './phases/workers.ts';
import { printReport } from './report.ts';

/** The phases in the order they run; `--only` picks some by name. */
const PHASES = {
  ceilings: phaseCeilings,
  ingest: phaseIngest,
  drain: phaseDrain,
  e2e: phaseEndToEnd,
  http: phaseHttp,
  workers: phaseWorkers,
  serverless: phaseServerless,
  bundles: phaseBundles,
  cost: phaseCost,
} as const satisfies Record<string, (run: BenchRun) => Promise<unknown>>;
type PhaseName = keyof typeof PHASES;
const PHASE_NAMES = Object.keys(PHASES) as PhaseName[];

const USAGE = `Usage: npm run bench -- [options]

  --events N     events per throughput measurement (default 10000; 600 with --quick)
  --quick        a ~20 s run with smaller samples (figures are noisier)
  --only A,B     run only these phases (${PHASE_NAMES.join(', ')})
  --cpu-prof DIR write CPU profiles of the measured ingest and drain sections to DIR (figures get slower)
  -h, --help     show this help

Needs the local Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test: the bench creates and drops
its own database ef_bench_<random> on that server) and Redis (REDIS_URL, default redis://127.0.0.1:6379: the bench
uses and deletes its own stream keys). Prints figures; never fails on a slow result.`;

const FLAGS = {
  events: { type: 'string' },
  quick: { type: 'boolean' },
  only: { type: 'string' },
  'cpu-prof': { type: 'string' },
} as const;

function toOptions(values: FlagValues<typeof FLAGS>): BenchOptions {
  const quick = values.quick === true;
  const events = parseNumber(
    'events',
    values.events,
    quick ? 600 : 10_000,
    integerBetween(100, 1_000_000),
    'an integer from 100 to 1000000',
  );
  const only = (values.only ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = only.find((name) => !(PHASE_NAMES as string[]).includes(name));
  if (unknown !== undefined) throw new UsageError(`--only takes ${PHASE_NAMES.join(', ')}; got "${unknown}"`);
  return { events, quick, only, cpuProfDir: values['cpu-prof'] };
}

/** The run in progress, for runMain's crash cleanup. */
let current: BenchRun | null = null;

async function main(): Promise<number> {
  const options = readCommandLine(USAGE, FLAGS, toOptions);
  if (typeof options === 'number') return options;
  // The SDK and Upstash clients print notices on their own; they say nothing about the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.UPSTASH_DISABLE_TELEMETRY ??= '1';
  // The Data API client signs requests even to the local endpoint: give it something to sign with.
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';

  if (options.cpuProfDir) await mkdir(options.cpuProfDir, { recursive: true });
  const run = new BenchRun(options);
  current = run;
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: dropping ${run.database} and the ${run.keyPrefix}:* keys…\n`);
    void run.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A socket error or a rejected promise nobody awaits would end the process without the cleanup below; drop the
  // throwaway database and keys first, then exit 1 with the stack.
  const onCrash = (error: unknown) => {
    process.stderr.write(`bench: crashed: ${describeError(error)}\ndropping ${run.database} and the ${run.keyPrefix}:* keys…\n`);
    void run.cleanup().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const versions = { postgres: '?', redis: '?' };
  let failure: unknown = null;
  try {
    versions.redis = await run.redisVersion();
    versions.postgres = await run.createDatabase();
    run.progress(`database ${run.database}, stream keys ${run.keyPrefix}:*`);
    const sql = createPgExecutor({ connectionString: run.databaseUrl, max: 1 });
    try {
      await migrate(sql, loadMigrations());
    } finally {
      await sql.close();
    }
    run.phaseDone('setup');
    for (const name of PHASE_NAMES) {
      if (options.only.length > 0 && !options.only.includes(name)) continue;
      await PHASES[name](run);
      await run.closeOpened();
    }
  } catch (error) {
    failure = error;
  } finally {
    run.progress('cleaning up');
    await run.cleanup();
  }
  if (run.rows.length > 0) printReport(run, versions);
  if (failure instanceof ServiceMissingError) {
    process.stderr.write(`bench: ${failure.message}\n`);
    return 1;
  }
  // Anything else is a bug or a broken phase: runMain prints it with its stack (cleanup has run already).
  if (failure !== null) throw failure;
  return 0;
}

// Adapters and endpoints are closed by then; exit explicitly so a straggling socket cannot keep the run alive.
void runMain(main, { name: 'bench', exit: true, onCrash: () => current?.cleanup() ?? Promise.resolve() });
