// Specification of the statistics and formatting helpers the producer, load test, monitor and bench print with.
// Must never time anything or touch the network: pure inputs, exact outputs.
import { describe, expect, it } from 'vitest';
import {
  formatKiB,
  formatLatency,
  formatMiB,
  formatMs,
  formatNumber,
  formatRate,
  formatRatio,
  median,
  percentile,
  perSecond,
  ratio,
  renderTable,
  summarize,
} from '../../scripts/lib/stats.ts';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('percentile', () => {
  it('uses the nearest rank, so every figure is a value that was observed', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 95)).toBe(95);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
  });

  it('gives the smallest value for p0 and the largest for p100', () => {
    expect(percentile([3, 7, 9], 0)).toBe(3);
    expect(percentile([3, 7, 9], 100)).toBe(9);
  });

  it('gives the only value of a single sample for any p', () => {
    for (const p of [0, 1, 50, 99, 100]) expect(percentile([42], p)).toBe(42);
  });

  it('gives null for no values', () => {
    expect(percentile([], 95)).toBeNull();
  });

  it('refuses a p outside 0..100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the two middle ones of an even count, unsorted input', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('gives null for no values and leaves its input alone', () => {
    expect(median([])).toBeNull();
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('summarize', () => {
  it('reports count, extremes, mean and p50/p95/p99 of unsorted values without reordering them', () => {
    const values = [...oneToHundred].reverse();
    expect(summarize(values)).toEqual({ count: 100, min: 1, max: 100, mean: 50.5, p50: 50, p95: 95, p99: 99 });
    expect(values[0]).toBe(100);
  });

  it('reports nulls for no values', () => {
    expect(summarize([])).toEqual({ count: 0, min: null, max: null, mean: null, p50: null, p95: null, p99: null });
  });
});

describe('perSecond and ratio', () => {
  it('turns a count over milliseconds into a rate', () => {
    expect(perSecond(500, 250)).toBe(2000);
  });

  it('gives no rate for a zero or negative duration rather than Infinity', () => {
    expect(perSecond(10, 0)).toBeNull();
    expect(perSecond(10, -1)).toBeNull();
  });

  it('divides, with null for an unknown side or a zero divisor', () => {
    expect(ratio(4800, 1000)).toBe(4.8);
    expect(ratio(null, 1000)).toBeNull();
    expect(ratio(1, null)).toBeNull();
    expect(ratio(1, 0)).toBeNull();
  });
});

describe('formatting', () => {
  it('groups thousands and fixes decimals', () => {
    expect(formatNumber(4800)).toBe('4,800');
    expect(formatNumber(1234.56, 1)).toBe('1,234.6');
    expect(formatNumber(null)).toBe('-');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('-');
  });

  it('prints milliseconds with a precision that suits their size', () => {
    expect(formatMs(0.4213)).toBe('0.42 ms');
    expect(formatMs(7.34)).toBe('7.3 ms');
    expect(formatMs(152.4)).toBe('152 ms');
    expect(formatMs(1520.4)).toBe('1,520 ms');
    expect(formatMs(null)).toBe('-');
  });

  it('prints a latency summary as p50/p95/p99', () => {
    expect(formatLatency({ p50: 1.2, p95: 3.45, p99: null })).toBe('p50 1.2 ms  p95 3.5 ms  p99 -');
  });

  it('prints rates, ratios and sizes', () => {
    expect(formatRate(4800.4)).toBe('4,800 ev/s');
    expect(formatRate(12.34)).toBe('12.3 ev/s');
    expect(formatRate(null)).toBe('-');
    expect(formatRatio(4.8)).toBe('4.8×');
    expect(formatRatio(0.123)).toBe('0.12×');
    expect(formatRatio(null)).toBe('-');
    expect(formatKiB(1536)).toBe('1.5 KiB');
    expect(formatMiB(3 * 1024 * 1024)).toBe('3.0 MiB');
  });
});

describe('renderTable', () => {
  it('aligns columns under a header and rule, without trailing blanks', () => {
    const table = renderTable(
      ['phase', 'value', 'note'],
      [
        ['ingest', '1,200 ev/s', ''],
        ['drain', '4,800 ev/s', 'batch 100'],
      ],
    );
    expect(table.split('\n')).toEqual([
      'phase   value       note',
      '------  ----------  ---------',
      'ingest  1,200 ev/s',
      'drain   4,800 ev/s  batch 100',
    ]);
  });

  it('pads rows shorter than the header with empty cells', () => {
    expect(renderTable(['a', 'b'], [['x']]).split('\n')[2]).toBe('x');
  });
});
