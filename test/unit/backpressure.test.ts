// Backpressure: when ingest says 429, how long it asks producers to wait, and that it costs one stats
// read per TTL however many requests arrive.
import { describe, expect, it } from 'vitest';
import { createBackpressure, drainRate, RETRY_AFTER_UNKNOWN_RATE_S, throttleFor } from '../../lambdas/core/backpressure.ts';
import type { EventStream, StreamStats } from '../../lambdas/ports.ts';
import { streamStats } from '../support/stream-stats.ts';

const limits = { maxLag: 1000, maxAgeMs: 60_000 };

describe('throttleFor', () => {
  it('lets requests through under both limits', () => {
    expect(throttleFor(streamStats({ lag: 1000, pending: 50 }), 100_000, 100, limits)).toBeNull();
  });

  it('refuses past the lag limit, with Retry-After = excess / drain rate', () => {
    expect(throttleFor(streamStats({ lag: 3000 }), 0, 200, limits)).toMatchObject({ reason: 'lag', retryAfterSeconds: 10 });
    expect(throttleFor(streamStats({ lag: 1001 }), 0, 10_000, limits)?.retryAfterSeconds).toBe(1);
    expect(throttleFor(streamStats({ lag: 3000 }), 0, null, limits)?.retryAfterSeconds).toBe(RETRY_AFTER_UNKNOWN_RATE_S);
    expect(throttleFor(streamStats({ lag: 10_000_000 }), 0, 1, limits)?.retryAfterSeconds).toBe(300);
  });

  it('refuses while the oldest pending entry is older than the age limit', () => {
    const t = throttleFor(streamStats({ pending: 10, oldestPendingId: '1000-0' }), 62_000, 5, limits);
    expect(t).toMatchObject({ reason: 'age', retryAfterSeconds: 1 });
    expect(t?.message).toContain('61 s');
  });

  it('never refuses with both limits at 0', () => {
    expect(throttleFor(streamStats({ lag: 1e9, oldestPendingId: '1-0' }), 1e12, 1, { maxLag: 0, maxAgeMs: 0 })).toBeNull();
  });
});

describe('drainRate', () => {
  it('counts what left the backlog plus what arrived, per second', () => {
    const before = { at: 0, stats: streamStats({ length: 1000, lag: 800, pending: 100 }) };
    const after = { at: 2000, stats: streamStats({ length: 1200, lag: 500, pending: 100 }) };
    expect(drainRate(before, after)).toBe(250); // 900 + 200 − 600 = 500 in 2 s
  });
  it('is unknown when nothing drained or Redis cannot tell the lag', () => {
    expect(drainRate({ at: 0, stats: streamStats({ lag: 5 }) }, { at: 1000, stats: streamStats({ lag: 5 }) })).toBeNull();
    expect(drainRate({ at: 0, stats: streamStats({ lag: null }) }, { at: 1000, stats: streamStats({ lag: 0 }) })).toBeNull();
  });
});

describe('createBackpressure', () => {
  function setup(read: () => Promise<StreamStats>) {
    let now = 1_000_000;
    let calls = 0;
    const stream = {
      stats: async () => {
        calls++;
        return read();
      },
    } as unknown as EventStream;
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const bp = createBackpressure(
      { stream, clock: { now: () => new Date(now) }, logger: quiet },
      { maxLag: 10, maxAgeMs: 0, statsTtlMs: 1000 },
    );
    return { bp, calls: () => calls, advance: (ms: number) => (now += ms) };
  }

  it('reads the stats once per TTL, however many requests arrive at once', async () => {
    const env = setup(async () => streamStats({ lag: 50 }));
    const answers = await Promise.all(Array.from({ length: 200 }, () => env.bp.check()));
    expect(answers.every((a) => a?.reason === 'lag')).toBe(true);
    expect(env.calls()).toBe(1);
    env.advance(999);
    await env.bp.check();
    expect(env.calls()).toBe(1);
    env.advance(1);
    await env.bp.check();
    expect(env.calls()).toBe(2);
  });

  it('serves the last sample while a refresh hangs, instead of holding requests', async () => {
    let hang = false;
    const env = setup(() => (hang ? new Promise<never>(() => {}) : Promise.resolve(streamStats({ lag: 50 }))));
    expect((await env.bp.check())?.reason).toBe('lag');
    hang = true;
    env.advance(1000);
    const answer = await Promise.race([env.bp.check(), new Promise((resolve) => setTimeout(() => resolve('held'), 200))]);
    expect(answer).toMatchObject({ reason: 'lag' });
  });

  it('fails open when the stats cannot be read, still at most once per TTL', async () => {
    const env = setup(async () => {
      throw new Error('redis down');
    });
    expect(await env.bp.check()).toBeNull();
    expect(await env.bp.check()).toBeNull();
    expect(env.calls()).toBe(1);
  });
});
