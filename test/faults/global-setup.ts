// Global setup of the fault suite: names the summary file the scenarios append to, and prints the
// summary table when the run ends. Must never fail the run itself: a missing row shows as missing.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { formatTable, readRows } from './summary.ts';

export default function setup(project: TestProject): () => void {
  const file = join(tmpdir(), `eventflow-faults-${process.pid}-${Date.now()}.jsonl`);
  project.provide('faultsSummaryFile', file);
  return () => {
    const rows = readRows(file);
    const clean = rows.every((row) => row.lost === 0 && row.duplicated === 0);
    process.stdout.write(
      `\nEventFlow fault-injection summary (${rows.length} scenario rows; lost and duplicated must be 0: ${clean ? 'they are' : 'THEY ARE NOT'})\n${formatTable(rows)}\n\n`,
    );
    rmSync(file, { force: true });
  };
}
