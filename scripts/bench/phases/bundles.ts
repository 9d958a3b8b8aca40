// (e) Lambda bundles: built like lib/eventflow-function.ts asks NodejsFunction to (esm, minified, createRequire
// banner), then imported by a fresh `node` so the figure is a cold module graph, not this process's warm cache.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatKiB, formatMs, formatNumber, median } from '../../lib/stats.ts';
import type { BenchRun } from '../context.ts';

const EXTERNALS = ['@electric-sql/pglite', 'pg-native'];
const BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";
const IMPORT_RUNS = 5;
const PROBE = new URL('../children/import-probe.ts', import.meta.url).pathname;

function importOnce(bundle: string, env: Record<string, string>): Promise<{ importMs: number; processMs: number }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [PROBE], {
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

export async function phaseBundles(run: BenchRun): Promise<void> {
  const phase = '(e) Lambda bundles';
  const esbuild = await import('esbuild');
  const bundleDir = await mkdtemp(join(tmpdir(), 'ef-bench-bundle-'));
  run.removeLater(bundleDir);
  const entries = { ingest: 'lambdas/ingest/handler.ts', consumer: 'lambdas/consumer/handler.ts' } as const;
  run.progress(`${phase}: bundling ${Object.values(entries).join(', ')}`);
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
      target: 'node24',
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
    run.report(phase, `${name} bundle (minified)`, formatKiB(code.size), `${entry}; source map ${formatKiB(map.size)}`);
    run.report(phase, '  largest parts', '', largestPackages(result.metafile, 6));
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
    STREAM_KEY: run.streamKey('bundle'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const pgEnv = { SQL_DRIVER: 'pg', DATABASE_URL: run.databaseUrl, REDIS_URL: run.redisUrl, STREAM_KEY: run.streamKey('bundle') };
  const envs: Record<string, Record<string, string>> = {
    'pg+ioredis': pgEnv,
    'data-api+upstash': serverlessEnv,
    // The deployed functions run with NODE_OPTIONS=--enable-source-maps (lib/eventflow-function.ts).
    'data-api+upstash, source maps': { ...serverlessEnv, NODE_OPTIONS: '--enable-source-maps' },
  };
  // First as deployed: the bundle alone, with no node_modules to fall back on (the Lambda package has none).
  const stubbed: string[] = [];
  const failing: string[] = [];
  for (const [name, bundle] of Object.entries(built)) {
    try {
      await importOnce(bundle, pgEnv);
      run.report(phase, `${name} bundle imports standalone`, 'yes', 'no node_modules beside it, as in the Lambda package');
    } catch (error) {
      const missing = /Cannot find (?:package|module) '([^']+)'/.exec((error as Error).message)?.[1];
      if (!missing || !EXTERNALS.includes(missing)) throw error;
      run.report(
        phase,
        `${name} bundle imports standalone`,
        'NO',
        `ERR_MODULE_NOT_FOUND '${missing}': a static import of an external`,
      );
      run.surprises.push(
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
      run.progress(`${phase}: import ${name} bundle ×${IMPORT_RUNS} (${envName})`);
      const runs: Array<{ importMs: number; processMs: number }> = [];
      for (let i = 0; i < IMPORT_RUNS; i++) runs.push(await importOnce(bundle, env));
      run.report(
        phase,
        `${name} cold import() (${envName})`,
        formatMs(median(runs.map((r) => r.importMs))),
        `median of ${IMPORT_RUNS}; node start → imported ${formatMs(median(runs.map((r) => r.processMs)))}${stubNote}`,
      );
    }
  }
  run.phaseDone(phase);
}
