// (e) Lambda bundles exactly as CDK builds them (a real synth in a child process), what is in them (bytes per package,
// from the source map), and the cold import() of each in a fresh `node`, with and without source maps.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatKiB, formatMs, formatNumber, formatRatio, median, ratio } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';
import { bytesByPackage } from '../lib/bundle-contents.ts';

/** Issue 11's goals for each deployed bundle. */
export const BUNDLE_GOALS = { bytes: 350 * 1024, importMs: 60 } as const;
const IMPORT_RUNS = 7;
const PROBE = new URL('../children/import-probe.ts', import.meta.url).pathname;
const SYNTH = new URL('../children/synth.ts', import.meta.url).pathname;

/** Runs `node args…` with `env`; resolves with stdout and the wall time from spawn to exit. */
function runNode(args: string[], env: Record<string, string>): Promise<{ out: string; wallMs: number }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
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
      if (code === 0) resolvePromise({ out, wallMs: performance.now() - t0 });
      else reject(new Error(`node ${args.join(' ')} exited ${code}: ${err.trim().slice(-800)}`));
    });
  });
}

interface ImportRun {
  readonly importMs: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

async function importOnce(bundle: string, env: Record<string, string>): Promise<ImportRun> {
  const { out, wallMs } = await runNode([PROBE], { ...env, EF_BENCH_BUNDLE: pathToFileURL(bundle).href });
  const { importMs, cpuMs } = JSON.parse(out) as { importMs: number; cpuMs: number };
  return { importMs, cpuMs, wallMs };
}

/** Synthesizes the stack in a child; returns each Lambda's bundle folder. */
async function synthesize(run: BenchRun): Promise<{ redisBackend: string; bundles: Record<string, string> }> {
  const outdir = await mkdtemp(join(tmpdir(), 'cdk.out.ef-bench-'));
  run.removeLater(outdir);
  const { out } = await runNode(['--import', import.meta.resolve('tsx'), SYNTH], {
    ...(process.env as Record<string, string>),
    EF_SYNTH_OUT: outdir,
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { redisBackend: string; bundles: Record<string, string> };
}

export async function phaseBundles(run: BenchRun): Promise<void> {
  const phase = '(e) Lambda bundles';
  run.progress(`${phase}: cdk synth with bundling (as \`cdk synth\` builds the assets)`);
  const t0 = performance.now();
  const { redisBackend, bundles } = await synthesize(run);
  run.report(phase, 'synth with bundling', formatMs(performance.now() - t0), `redisBackend ${redisBackend} (cdk.json)`);

  // The env the handlers build their adapters from at import, as deployed (Data API and Upstash: nothing is dialled
  // before the first request). AWS credentials as Lambda provides them: in the environment.
  const env: Record<string, string> = {
    SQL_DRIVER: 'data-api',
    DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-bench',
    DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-bench',
    RDS_DATA_ENDPOINT: 'http://127.0.0.1:9',
    STREAM_DRIVER: 'upstash',
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'bench',
    UPSTASH_DISABLE_TELEMETRY: '1',
    STREAM_KEY: run.streamKey('bundle'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SESSION_TOKEN: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  run.progress(`${phase}: bare \`node -e ''\` ×${IMPORT_RUNS}`);
  const bare: number[] = [];
  for (let i = 0; i < IMPORT_RUNS; i++) bare.push((await runNode(['-e', ''], {})).wallMs);
  const bareMs = median(bare);
  run.report(phase, "bare `node -e ''`", formatMs(bareMs), `median of ${IMPORT_RUNS}: process spawn to exit`);

  for (const name of ['ingest', 'consumer'] as const) {
    const dir = bundles[name];
    if (!dir) throw new Error(`the synth named no ${name} bundle`);
    const file = join(dir, 'index.mjs');
    const [code, mapText, mapStat] = await Promise.all([
      readFile(file, 'utf8'),
      readFile(`${file}.map`, 'utf8'),
      stat(`${file}.map`),
    ]);
    const size = Buffer.byteLength(code);
    run.report(
      phase,
      `${name} bundle (as deployed)`,
      formatKiB(size),
      `${formatRatio(ratio(size, BUNDLE_GOALS.bytes))} the ${formatKiB(BUNDLE_GOALS.bytes)} goal; source map ${formatKiB(mapStat.size)} beside it`,
    );
    const parts = bytesByPackage(code, JSON.parse(mapText) as { sources: string[]; mappings: string });
    run.report(
      phase,
      '  largest parts (KiB)',
      '',
      parts
        .slice(0, 10)
        .map(([pkg, bytes]) => `${pkg} ${formatNumber(bytes / 1024, 0)}`)
        .join(', '),
    );
    for (const [label, extra] of [
      ['', {}],
      [', --enable-source-maps (as deployed)', { NODE_OPTIONS: '--enable-source-maps' }],
    ] as const) {
      run.progress(`${phase}: import ${name} bundle ×${IMPORT_RUNS}${label}`);
      const runs: ImportRun[] = [];
      for (let i = 0; i < IMPORT_RUNS; i++) runs.push(await importOnce(file, { ...env, ...extra }));
      const importMs = median(runs.map((r) => r.importMs));
      run.report(
        phase,
        `${name} cold import()${label}`,
        formatMs(importMs),
        `${formatRatio(ratio(importMs, BUNDLE_GOALS.importMs))} the ${BUNDLE_GOALS.importMs} ms goal; CPU ${formatMs(median(runs.map((r) => r.cpuMs)))}; node start → imported ${formatMs(median(runs.map((r) => r.wallMs)))} (bare node ${formatMs(bareMs)}); median of ${IMPORT_RUNS}`,
      );
    }
  }
  run.phaseDone(phase);
}
