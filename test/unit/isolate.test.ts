import { describe, expect, it } from 'vitest';
import { writeIsolating } from '../../lambdas/core/isolate.ts';
import { DependencyUnavailableError, SqlStatementError } from '../../lambdas/errors.ts';

/** A "database" that refuses any batch containing a negative number and records each call. */
function fakeWriter(calls: number[][]) {
  return async (batch: readonly number[]) => {
    calls.push([...batch]);
    if (batch.some((n) => n < 0)) throw new SqlStatementError('value out of range', '22003');
    return batch.map((n) => n * 10);
  };
}

describe('writeIsolating', () => {
  it('writes a clean batch in one call', async () => {
    const calls: number[][] = [];
    expect(await writeIsolating([1, 2, 3], fakeWriter(calls))).toEqual({ results: [10, 20, 30], refused: new Map() });
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('on a refused statement, writes row by row and reports only the refused rows', async () => {
    const calls: number[][] = [];
    const { results, refused } = await writeIsolating([1, -2, 3], fakeWriter(calls));
    expect(results).toEqual([10, 30]);
    expect([...refused.keys()]).toEqual([-2]);
    expect(refused.get(-2)?.code).toBe('22003');
    expect(calls).toEqual([[1, -2, 3], [1], [-2], [3]]);
  });

  it('lets an outage through instead of retrying row by row', async () => {
    let calls = 0;
    const down = async () => {
      calls++;
      throw new DependencyUnavailableError('database', 'down');
    };
    await expect(writeIsolating([1, 2], down)).rejects.toThrow('down');
    expect(calls).toBe(1);
  });
});
