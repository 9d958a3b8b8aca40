import { describe, expect, it } from 'vitest';
import { withRetries } from '../../lambdas/core/retry.ts';
import { DependencyUnavailableError, SqlStatementError } from '../../lambdas/errors.ts';

describe('withRetries', () => {
  it('retries transient failures with doubling delays, then returns the result', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls++;
        if (calls < 3) throw new DependencyUnavailableError('database', 'resuming');
        return 'done';
      },
      { attempts: 5, baseMs: 1, onRetry: (_e, _n, delay) => delays.push(delay) },
    );
    expect(result).toBe('done');
    expect(delays).toEqual([1, 2]);
  });

  it('gives up after the attempts and does not retry permanent errors', async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new DependencyUnavailableError('database', 'down');
        },
        { attempts: 3, baseMs: 1 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new SqlStatementError('syntax');
        },
        { attempts: 3, baseMs: 1 },
      ),
    ).rejects.toThrow('syntax');
    expect(calls).toBe(1);
  });
});
