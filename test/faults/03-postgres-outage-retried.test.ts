// Fault 3: Postgres unreachable from the consumer for longer than one backoff step while it drains, then
// back. The drain pauses and resumes: nothing fails for the outage, and the outage costs no attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

/**
 * Backoff 1 s → 2 s with three attempts: an outage of 1.5 s is longer than one step, and shorter than
 * the 3 s between an entry's first and last attempt. (With the suite's 300 ms base, attempts 1–3 span
 * only 900 ms, so an event first tried at the start of a 1.5 s outage would rightly be dead-lettered:
 * that is fault 4.)
 */
const RETRY_BASE_MS = 1000;
const OUTAGE_MS = 1500;

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({
    scenario: '3 Postgres down 1.5 s while draining',
    env: { RETRY_BASE_MS: String(RETRY_BASE_MS), MAX_ATTEMPTS: '3', BATCH_SIZE: '10' },
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('Postgres unreachable from the consumer for longer than one backoff step', () => {
  it('pauses and resumes: every valid event processed, none failed for the outage, no attempt spent on it', async () => {
    // Arrange: 300 events accepted, then a consumer starts draining them in batches of 10.
    const api = await stack.startApi();
    const ledger = new Ledger();
    await sendEvents(api.url, planEvents(300, { violationEvery: 10, invalid: 6 }), ledger, { batchSize: 20 });
    await stack.startConsumer('retrier');
    await waitFor('the consumer to have processed some events', async () => (await stack.countRows('processed_events')) > 0, {
      timeoutMs: 20_000,
      intervalMs: 5,
    });

    // Act: Postgres goes away for 1.5 s (connections reset, new ones refused), then comes back.
    const processedBefore = await stack.countRows('processed_events');
    await stack.pgConsumers.outage(OUTAGE_MS);
    await stack.settle(ledger);

    // Assert: valid events processed, rule violations failed as such, and the outage cost no attempt.
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(processedBefore).toBeLessThan(270);
    expect(await stack.countRows('failed_events', `error_type <> 'RuleViolation'`)).toBe(0);
    expect(await stack.countRows('processed_events', 'attempts > 1')).toBe(0);
    expect(stack.pgConsumers.stats.dropped).toBeGreaterThan(0);
  });
});
