// Fault 4: a backlog of 20,000 events, and Postgres unreachable from the consumer for 30 s mid-drain —
// far past every retry backoff. The drain pauses as a whole and spends no attempt on the outage: every
// valid event ends processed once Postgres is back, and only the rule violations are dead-lettered.
// Run twice: the consumer on the pg driver, and on the RDS Data API through the local endpoint.
import { afterAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

const BACKLOG = 20_000;
const OUTAGE_MS = 30_000;

const stacks: FaultStack[] = [];

afterAll(async () => {
  for (const stack of stacks) await stack.close();
});

describe.each([
  { driver: 'pg', scenario: '4 Postgres down 30 s, 20k backlog (pg)' },
  { driver: 'data-api', scenario: '4b Postgres down 30 s, 20k backlog (Data API)' },
])('Postgres unreachable from the consumer for 30 s with $driver', ({ driver, scenario }) => {
  it('dead-letters no valid event: the drain pauses, then processes every one exactly once', async () => {
    // Arrange: 20,000 events accepted before the consumer starts (retries 300 ms → 600 ms → 1.2 s).
    const stack = await FaultStack.start({ scenario, env: { MAX_ATTEMPTS: '3', BATCH_SIZE: '100' } });
    stacks.push(stack);
    const api = await stack.startApi();
    const ledger = new Ledger();
    await sendEvents(api.url, planEvents(BACKLOG, { violationEvery: 50, invalid: 20 }), ledger, {
      batchSize: 100,
      concurrency: 4,
    });
    expect(ledger.accepted.size).toBeGreaterThanOrEqual(BACKLOG);
    await stack.startConsumer(`outage-${driver}`, { SQL_DRIVER: driver });
    await waitFor('the consumer to be draining', async () => (await stack.countRows('processed_events')) > 0, {
      timeoutMs: 60_000,
      intervalMs: 5,
    });

    // Act: the consumer's Postgres goes away mid-drain for 30 s, then comes back.
    const processedBefore = await stack.countRows('processed_events');
    await stack.pgConsumers.outage(OUTAGE_MS);
    await stack.settle(ledger, { timeoutMs: 180_000 });

    // Assert: one outcome each, no valid event failed, and no attempt was spent on the outage.
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(processedBefore).toBeLessThan(report.processed);
    expect(await stack.countRows('failed_events', `error_type <> 'RuleViolation'`)).toBe(0);
    expect(await stack.countRows('processed_events', 'attempts > 1')).toBe(0);
    expect(stack.pgConsumers.stats.dropped).toBeGreaterThan(0);
  }, 420_000);
});
