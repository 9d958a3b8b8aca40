// The summary table of the fault suite: each scenario appends its accounting row to a file the global
// setup names; the global teardown prints the table. Must never decide pass/fail: tests assert, this reports.
import { appendFileSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';

export interface ScenarioRow {
  readonly scenario: string;
  readonly sent: number;
  readonly accepted: number;
  /** Refused with 4xx or 503 (must be stored nowhere). */
  readonly rejected: number;
  readonly processed: number;
  readonly failed: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly seconds: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    faultsSummaryFile: string;
  }
}

export function recordScenario(row: ScenarioRow): void {
  appendFileSync(inject('faultsSummaryFile'), `${JSON.stringify(row)}\n`);
}

export function readRows(file: string): ScenarioRow[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ScenarioRow);
}

const COLUMNS: Array<[keyof ScenarioRow, string]> = [
  ['scenario', 'scenario'],
  ['sent', 'sent'],
  ['accepted', 'accepted'],
  ['rejected', 'refused'],
  ['processed', 'processed'],
  ['failed', 'failed'],
  ['lost', 'lost'],
  ['duplicated', 'duplicated'],
  ['seconds', 's'],
];

/** A plain-text table, one row per scenario, plus totals. */
export function formatTable(rows: readonly ScenarioRow[]): string {
  const sorted = [...rows].sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
  const total: Record<string, string | number> = { scenario: 'TOTAL' };
  for (const [key] of COLUMNS.slice(1)) total[key] = Math.round(sorted.reduce((sum, row) => sum + Number(row[key]), 0) * 10) / 10;
  const cells = [...sorted, total].map((row) => COLUMNS.map(([key]) => String((row as Record<string, unknown>)[key])));
  const header = COLUMNS.map(([, title]) => title);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((cell) => (cell[i] as string).length)));
  const line = (values: string[]) =>
    values.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...cells.slice(0, -1).map(line), rule, line(cells[cells.length - 1] as string[])].join('\n');
}
