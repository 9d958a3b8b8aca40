// `tsx scripts/bench/profile-summary.ts FILE.cpuprofile…`: where the CPU time of a profile went (self time by
// category: idle, GC, JSON, a package, a project folder, Node's internals), as a table. Reads files only.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { runMain } from '../lib/cli.ts';
import { formatMs, formatNumber, renderTable } from '../lib/stats.ts';
import { type CpuProfile, summarizeProfile } from './lib/cpu-profile.ts';

async function main(): Promise<number> {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: tsx scripts/bench/profile-summary.ts FILE.cpuprofile…\n');
    return 2;
  }
  for (const file of files) {
    const { totalMs, byCategory } = summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as CpuProfile);
    const rows = byCategory
      .slice(0, 25)
      .map(([category, ms]) => [category, formatMs(ms), `${formatNumber((ms / totalMs) * 100, 1)} %`]);
    process.stdout.write(
      `${basename(file)}: ${formatMs(totalMs)} profiled\n${renderTable(['where', 'self time', 'share'], rows)}\n\n`,
    );
  }
  return 0;
}

void runMain(main, { name: 'profile-summary' });
