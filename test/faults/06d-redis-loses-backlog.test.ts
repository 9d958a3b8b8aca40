// Fault 6d: Redis loses a 20,000-event backlog (a private redis-server SIGKILLed and restarted empty)
// before any consumer read it. The reconciler must republish all of it from raw_events at the pace the
// drain can take (pages of 500, repeated while work remains), not 160 events per maintenance interval.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

const BACKLOG = 20_000;
/**
 * The old reconciler took 20 pages of 8 rows per maintenance run: 160 events per 10 s (the default
 * interval, used here), about 21 minutes for this backlog. Two minutes is a generous bound for a
 * recovery proportional to the backlog; the measured rate is printed.
 */
const RECOVERY_BOUND_MS = 120_000;

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({
    scenario: '6d Redis loses a 20k backlog',
    privateRedis: true,
    env: { MAINTENANCE_INTERVAL_MS: '10000', BATCH_SIZE: '100' },
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('Redis restarted empty with 20,000 events waiting', () => {
  it('republishes and processes every one within two minutes, each exactly once', async () => {
    // Arrange: 20,000 events accepted and on the stream, no consumer yet.
    const api = await stack.startApi();
    const ledger = new Ledger();
    await sendEvents(api.url, planEvents(BACKLOG, { violationEvery: 50, invalid: 20 }), ledger, {
      batchSize: 100,
      concurrency: 4,
    });
    expect(Number(await stack.redis.xlen(stack.streamKey))).toBe(BACKLOG);

    // Act: Redis dies with the whole backlog and comes back empty; past the reconcile grace a consumer starts.
    await stack.privateRedis?.kill();
    await stack.privateRedis?.restart();
    expect(Number(await stack.redis.exists(stack.streamKey))).toBe(0);
    await sleep(1100);
    await stack.startConsumer('recovery'); // resolves once its loop runs: start-up is not counted
    const started = Date.now();
    await waitFor(
      'every lost event to be republished',
      async () => (await stack.countRows('raw_events', 'republished_at IS NULL')) === 0,
      {
        timeoutMs: RECOVERY_BOUND_MS,
        intervalMs: 100,
      },
    );
    const republishMs = Date.now() - started;
    await stack.settle(ledger, { timeoutMs: RECOVERY_BOUND_MS });
    const recoveryMs = Date.now() - started;

    // Assert: every event ended once, all of it through the reconciler, at a rate proportional to the backlog.
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.accepted).toBe(BACKLOG);
    expect(await stack.countRows('raw_events', 'republished_at IS NULL')).toBe(0);
    const rate = (ms: number) => Math.round(BACKLOG / (ms / 1000));
    console.log(
      `6d: ${BACKLOG} lost events republished in ${(republishMs / 1000).toFixed(1)} s (${rate(republishMs)}/s; ` +
        `the old reconciler: 16/s), all processed after ${(recoveryMs / 1000).toFixed(1)} s (${rate(recoveryMs)}/s)`,
    );
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS);
  }, 300_000);
});
