// Fault 1: a consumer process SIGKILLed in the middle of draining (no handler runs, its batch is
// neither written nor acknowledged, or written but not acknowledged); a new consumer must finish the job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;

beforeAll(async () => {
  // Small batches, so the drain of 500 events spans many batches and a kill lands inside one.
  stack = await FaultStack.start({ scenario: '1 consumer SIGKILLed mid-batch', env: { BATCH_SIZE: '20' } });
});

afterAll(async () => {
  await stack?.close();
});

describe('a consumer killed with SIGKILL while draining', () => {
  it('loses nothing and doubles nothing: a new consumer reclaims its pending entries and finishes', async () => {
    // Arrange: 500 events accepted while no consumer runs.
    const api = await stack.startApi();
    const ledger = new Ledger();
    const planned = planEvents(490, { violationEvery: 10, invalid: 10 });
    await sendEvents(api.url, planned, ledger, { batchSize: 10, concurrency: 4 });
    const total = ledger.accepted.size;
    expect(total).toBe(490);

    // Act: start a consumer and kill it once some, not all, events are processed and it holds a batch.
    // The kill races the consumer's ack (a batch takes milliseconds), so try again until a kill lands
    // while entries are held; every attempt is a real SIGKILL mid-drain either way.
    let atKill = { processed: 0, holding: 0 };
    let orphaned = 0;
    let doomed = await stack.startConsumer('doomed-1');
    for (let attempt = 1; attempt <= 5 && orphaned === 0; attempt++) {
      if (attempt > 1) doomed = await stack.startConsumer(`doomed-${attempt}`);
      const current = doomed;
      atKill = await waitFor(
        'the consumer to be mid-drain (some processed, a batch pending)',
        async () => {
          const [processed, state] = await Promise.all([stack.countRows('processed_events'), stack.streamState()]);
          const holding = state.byConsumer[current.consumer] ?? 0;
          return processed > 0 && processed < total && holding > 0 ? { processed, holding } : null;
        },
        { timeoutMs: 30_000, intervalMs: 5 },
      );
      await stack.kill(current);
      orphaned = (await stack.streamState()).byConsumer[current.consumer] ?? 0;
    }
    const successor = await stack.startConsumer('successor');
    await stack.settle(ledger);

    // Assert: exactly one outcome per accepted event; the orphaned entries were taken over.
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.processed + report.failed).toBe(total);
    expect(atKill.processed).toBeLessThan(total);
    expect(orphaned).toBeGreaterThan(0);
    const state = await stack.streamState();
    expect(state.pending).toBe(0);
    expect(state.byConsumer[doomed.consumer] ?? 0).toBe(0);
    const bySuccessor = await stack.countRows('processed_events', `enriched_data->>'processed_by' = '${successor.consumer}'`);
    expect(bySuccessor).toBeGreaterThan(0);
  });
});
