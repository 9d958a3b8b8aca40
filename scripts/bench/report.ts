// The printed report: machine and load, the table of figures, RSS after each phase, the comparisons and anything
// surprising. Prints only what the phases collected; never judges a figure.
import { cpus, loadavg } from 'node:os';
import { formatMiB, formatMs, renderTable } from '../lib/stats.ts';
import type { BenchRun } from './context.ts';

export function printReport(run: BenchRun, versions: { postgres: string; redis: string }): void {
  const cpu = cpus();
  const { options } = run;
  const lines = [
    `EventFlow bench (${options.quick ? 'quick' : 'default'} run, ${options.events} events per throughput figure)`,
    `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}; node ${process.version}; Postgres ${versions.postgres}; Redis ${versions.redis}`,
    // Other work on the machine (tests, builds) moves every figure; the load average says how much there was.
    `load average (1 min): ${run.loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end, on ${cpu.length} cores`,
    "(0) measures this machine's ceilings first; figures print their ratio to the ceiling that bounds them.",
    "(a)-(c) run the pipeline in this process (no HTTP, as in Lambda); (h) goes over HTTP to `npm start`'s server and (w)",
    'drains with separate --consumer-only processes; (d) and (k) run the local Data API, Upstash and SQS endpoints in a',
    'child process. Everything shares the same cores with Postgres and Redis (and whatever else runs: see the load).',
    '',
    renderTable(
      ['phase', 'measure', 'value', 'note'],
      run.rows.map((row) => [row.phase, row.measure, row.value, row.note]),
    ),
    '',
    '(f) RSS of this process after each phase',
    renderTable(
      ['after', 'rss'],
      run.rssAfter.map(([phase, rss]) => [phase, formatMiB(rss)]),
    ),
  ];
  if (run.comparisons.length > 0)
    lines.push('', "Against the original's README claims", ...run.comparisons.map((line) => `  ${line}`));
  const warnings = run.quiet.entries.filter((entry) => entry.level === 'warn' || entry.level === 'error');
  if (warnings.length > 0)
    run.surprises.push(
      `${warnings.length} warnings/errors logged by the pipeline, first: ${warnings[0]?.message} ${JSON.stringify(warnings[0]?.extra).slice(0, 400)}`,
    );
  if (run.surprises.length > 0) lines.push('', 'Check these', ...run.surprises.map((line) => `  ${line}`));
  lines.push('', `total ${formatMs(performance.now() - run.startedAt)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
