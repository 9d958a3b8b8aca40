// Fault 6: Redis loses its data (a private redis-server without persistence, SIGKILLed and restarted
// empty) after events were ingested and before they were consumed: the reconciler must republish them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccountingReport, Ledger, planEvents, readOutcomes, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;
let api: { url: string };
/** One ledger for the file: the accounting covers every row in the scenario's database. */
const ledger = new Ledger();
let firstReport: AccountingReport | undefined;

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '6 Redis loses its data', privateRedis: true });
  api = await stack.startApi();
});

afterAll(async () => {
  await stack?.close();
});

describe('Redis restarted empty between ingest and consumption', () => {
  it('loses nothing: a consumer started afterwards gets every event through the reconciler', async () => {
    // Arrange: events accepted and on the stream, no consumer yet.
    const lost = planEvents(120, { violationEvery: 10, invalid: 4 });
    await sendEvents(api.url, lost, ledger, { batchSize: 10 });
    expect(Number(await stack.redis.xlen(stack.streamKey))).toBe(120);

    // Act: the Redis process dies (its data with it) and comes back empty; more events arrive; a consumer starts.
    await stack.privateRedis?.kill();
    await stack.privateRedis?.restart();
    expect(Number(await stack.redis.exists(stack.streamKey))).toBe(0);
    const afterRestart = planEvents(30, { violationEvery: 10 });
    await sendEvents(api.url, afterRestart, ledger);
    await stack.startConsumer('after-loss');
    await stack.settle(ledger);

    // Assert: every accepted event ends once; those the stream lost were republished from raw_events.
    const report = await stack.account(ledger);
    firstReport = report;
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.accepted).toBe(150);
    const outcomes = await readOutcomes(
      stack.pool,
      lost.filter((event) => event.expected !== null).map((event) => event.event_id),
    );
    expect([...outcomes.values()].filter((outcome) => !outcome.republished)).toEqual([]);
  });

  it('loses nothing when the consumer was running through the restart: the group is recreated, the lost entries republished', async () => {
    // Arrange: the consumer from the previous test is running; freeze it so the next events stay unconsumed.
    const consumer =
      stack.processes.find((proc) => proc.name.startsWith('consumer')) ?? (await stack.startConsumer('through-loss'));
    consumer.pause();
    try {
      await sendEvents(api.url, planEvents(40, { violationEvery: 10, invalid: 2 }), ledger, { batchSize: 10 });

      // Act: Redis dies and comes back empty while the consumer is frozen; more events arrive; it thaws.
      await stack.privateRedis?.kill();
      await stack.privateRedis?.restart();
      await sendEvents(api.url, planEvents(20, { violationEvery: 10 }), ledger);
    } finally {
      consumer.resume();
    }
    await stack.settle(ledger);

    // Assert
    const report = await stack.account(ledger, {
      scenario: '6b Redis restarted empty under a running consumer',
      ...(firstReport ? { after: firstReport } : {}),
    });
    expect(expectationsOf(report)).toEqual(CLEAN);
  });

  // When the stream key disappears while the consumer is blocked in XREADGROUP (FLUSHALL, DEL,
  // eviction), Redis answers "UNBLOCKED the stream key no longer exists": the loop recreates the group.
  it('loses nothing when Redis is flushed while the consumer waits on XREADGROUP', async () => {
    // Arrange: the consumer is idle, blocked in XREADGROUP (the only client of this Redis that blocks).
    await waitFor(
      'the consumer to be blocked in XREADGROUP',
      async () => /blocked_clients:[1-9]/.test(await stack.redis.info('clients')),
      {
        timeoutMs: 10_000,
        intervalMs: 5,
      },
    );

    // Act: Redis loses every key at once; events keep arriving.
    await stack.redis.flushall();
    await sendEvents(api.url, planEvents(30, { violationEvery: 10, invalid: 2 }), ledger);
    await stack.settle(ledger, { timeoutMs: 20_000, record: false });

    // Assert
    const report = await stack.account(ledger, { scenario: '6c Redis flushed under a blocked consumer' });
    expect(expectationsOf(report)).toEqual(CLEAN);
  });
});
