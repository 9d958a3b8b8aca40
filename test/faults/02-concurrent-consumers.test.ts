// Fault 2: three consumer processes drain one consumer group at once while events keep arriving; they
// race on reads, reclaims and outcome claims. Each event must still end with exactly one outcome.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '2 three consumers at once', env: { BATCH_SIZE: '25' } });
});

afterAll(async () => {
  await stack?.close();
});

describe('three consumers over the same stream', () => {
  it('share ~1000 events with one outcome each, none in both tables', async () => {
    // Arrange: the API and three consumers running.
    const api = await stack.startApi();
    const consumers = await Promise.all(['c1', 'c2', 'c3'].map((label) => stack.startConsumer(label)));
    const ledger = new Ledger();
    const planned = planEvents(990, { violationEvery: 9, invalid: 12 });

    // Act: ingest while they drain (single events and batches, several requests at a time).
    await Promise.all([
      sendEvents(api.url, planned.slice(0, 500), ledger, { concurrency: 6 }),
      sendEvents(api.url, planned.slice(500), ledger, { batchSize: 20, concurrency: 2 }),
    ]);
    await stack.settle(ledger);

    // Assert: the accounting is exact, and the work really was shared.
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.accepted).toBe(990);
    expect(report.refused).toBe(12);
    const workers = await stack.pool.query<{ worker: string }>(
      `SELECT DISTINCT enriched_data->>'processed_by' AS worker FROM processed_events`,
    );
    expect(workers.rows.map((row) => row.worker).sort()).toEqual(consumers.map((c) => c.consumer).sort());
  });
});
