import { describe, expect, it } from 'vitest';
import { backoffMs, entryEventId } from '../../lambdas/core/drain/delivery.ts';
import { reconcileCutoff, trimThreshold } from '../../lambdas/core/maintenance.ts';
import { streamStats } from '../support/stream-stats.ts';

describe('retry backoff', () => {
  it('doubles from the base per delivery (2 s, 4 s, 8 s) and stops growing after the last attempt', () => {
    const settings = { retryBaseMs: 2000, maxAttempts: 3 };
    expect([1, 2, 3, 4, 9].map((n) => backoffMs(n, settings))).toEqual([2000, 4000, 8000, 8000, 8000]);
  });
});

describe('stable ids for unparsable entries', () => {
  it('are UUIDs that depend only on the entry', () => {
    const a = entryEventId({ id: '1-0', data: 'x' });
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(entryEventId({ id: '1-0', data: 'x' })).toBe(a);
    expect(entryEventId({ id: '2-0', data: 'x' })).not.toBe(a);
  });
});

describe('reconciler cutoff', () => {
  const now = new Date(100_000);
  it('is now minus grace when nothing is waiting', () => {
    expect(reconcileCutoff(streamStats({ lastDeliveredId: '90000-0' }), now, 1000).getTime()).toBe(99_000);
  });
  it('stays behind the oldest pending entry', () => {
    expect(reconcileCutoff(streamStats({ oldestPendingId: '50000-3', lastDeliveredId: '90000-0' }), now, 1000).getTime()).toBe(
      49_000,
    );
  });
  it('stays behind undelivered entries (lag > 0 or unknown)', () => {
    expect(reconcileCutoff(streamStats({ lag: 5, lastDeliveredId: '70000-0' }), now, 1000).getTime()).toBe(69_000);
    expect(reconcileCutoff(streamStats({ lag: null, lastDeliveredId: '70000-0' }), now, 1000).getTime()).toBe(69_000);
    expect(reconcileCutoff(streamStats({ lag: 3, lastDeliveredId: '0-0' }), now, 1000).getTime()).toBeLessThan(0);
  });
});

describe('trim threshold', () => {
  it('never passes the oldest pending entry nor the last delivered one', () => {
    expect(trimThreshold(streamStats({ lastDeliveredId: '0-0' }))).toBeNull();
    expect(trimThreshold(streamStats({ lastDeliveredId: '90-0' }))).toBe('90-0');
    expect(trimThreshold(streamStats({ lastDeliveredId: '90-0', oldestPendingId: '80-5' }))).toBe('80-5');
    expect(trimThreshold(streamStats({ lastDeliveredId: '90-1', oldestPendingId: '90-0' }))).toBe('90-0');
  });
});

describe('when to reconcile', () => {
  const settings = { consumer: 'c', batchSize: 10, reconcileGraceMs: 1000, reconcileIdleIntervalMs: 60_000 };
  it('keeps reconciling for two grace periods after activity; after that the idle turn decides', async () => {
    const { recentlyActive } = await import('../../lambdas/core/maintenance.ts');
    const state = { lastActivityAt: 10_000, lastDeliveredId: '1-0', streamWasDown: false };
    expect(recentlyActive(state, 12_000, settings)).toBe(true);
    expect(recentlyActive(state, 12_001, settings)).toBe(false);
  });
});

describe('health', () => {
  it('reports a resuming Aurora as resuming and the service as ok; a down stream as degraded', async () => {
    const { checkHealth } = await import('../../lambdas/core/queries.ts');
    const { DependencyUnavailableError } = await import('../../lambdas/errors.ts');
    const resuming = {
      query: async () => {
        throw new DependencyUnavailableError('database', 'database unavailable: DatabaseResumingException: resuming', {
          resuming: true,
        });
      },
    };
    const up = { ping: async () => {} };
    const down = {
      ping: async () => {
        throw new Error('ECONNREFUSED');
      },
    };
    const health = await checkHealth({ sql: resuming as never, stream: up as never });
    expect(health).toMatchObject({ status: 'ok', dependencies: { database: { status: 'resuming' }, stream: { status: 'up' } } });
    const degraded = await checkHealth({ sql: resuming as never, stream: down as never });
    expect(degraded).toMatchObject({ status: 'degraded', dependencies: { stream: { status: 'down', error: 'ECONNREFUSED' } } });
  });
});
