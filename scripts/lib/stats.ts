// Small statistics and formatting helpers for the producer, load test, monitor and bench: percentiles, rates, ratios, tables.
// Pure functions only: must never do I/O, read clocks or judge a figure (callers print; nothing here asserts a timing).

/** Nearest-rank percentile of values sorted ascending; null when there are none. `p` is 0..100. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100, got ${p}`);
  if (sorted.length === 0) return null;
  // Nearest rank (not interpolation): every reported figure is a latency that really happened.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

/** The middle value (mean of the two middle ones for an even count); null when there are none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

export interface Summary {
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Count, extremes, mean and the p50/p95/p99 a latency report needs. Does not reorder `values`. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, min: null, max: null, mean: null, p50: null, p95: null, p99: null };
  const sorted = [...values].sort((a, b) => a - b);
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    min: sorted[0] ?? null,
    max: sorted[sorted.length - 1] ?? null,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

/** Items per second over a duration in milliseconds; null for a zero or negative duration (no honest rate). */
export function perSecond(count: number, elapsedMs: number): number | null {
  return elapsedMs > 0 ? (count * 1000) / elapsedMs : null;
}

/** a / b, or null when either is unknown or b is zero. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

/** Groups thousands with commas and keeps `digits` decimals: 4800 → "4,800", 1234.5 → "1,234.5" with digits 1. */
export function formatNumber(value: number | null, digits = 0): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds with a precision that suits the size: "0.42 ms", "7.3 ms", "152 ms", "-" when unknown. */
export function formatMs(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  const digits = Math.abs(value) < 1 ? 2 : Math.abs(value) < 100 ? 1 : 0;
  return `${formatNumber(value, digits)} ms`;
}

/** "p50 1.2 ms  p95 3.4 ms  p99 5.6 ms" for a summary. */
export function formatLatency(summary: Pick<Summary, 'p50' | 'p95' | 'p99'>): string {
  return `p50 ${formatMs(summary.p50)}  p95 ${formatMs(summary.p95)}  p99 ${formatMs(summary.p99)}`;
}

/** A rate in events per second: "4,800 ev/s". */
export function formatRate(value: number | null): string {
  return value === null ? '-' : `${formatNumber(value, value < 100 ? 1 : 0)} ev/s`;
}

/** A ratio as a multiplier: "4.8×"; two decimals below 1 so small fractions stay readable. */
export function formatRatio(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return `${formatNumber(value, Math.abs(value) < 1 ? 2 : 1)}×`;
}

/** Bytes as KiB with one decimal: "512.3 KiB". */
export function formatKiB(bytes: number): string {
  return `${formatNumber(bytes / 1024, 1)} KiB`;
}

/** Bytes as MiB with one decimal: "153.2 MiB". */
export function formatMiB(bytes: number): string {
  return `${formatNumber(bytes / (1024 * 1024), 1)} MiB`;
}

/**
 * Left-aligned columns separated by two spaces; the last column is not padded (no trailing blanks).
 * Rows shorter than the header are padded with empty cells.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const width = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    header
      .map((_, column) =>
        column === header.length - 1 ? (cells[column] ?? '') : (cells[column] ?? '').padEnd(width[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = width.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Two columns, labels padded to the longest: the "label  value" reports of the producer and the load test. */
export function renderLabelled(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`.trimEnd()).join('\n');
}
