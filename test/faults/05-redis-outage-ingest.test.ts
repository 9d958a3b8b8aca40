// Fault 5: Redis unreachable while events are ingested. The API still answers 202 (the raw row is
// committed; the XADD fails) and leaves a publish hint in the fallback queue; once Redis is back the
// consumer republishes them (from the hints, or through the reconciler).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, type PlannedEvent, planEvents, readOutcomes, sendEvents } from '../support/accounting.ts';
import type { ManagedProcess } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;
let api: { url: string };
let consumer: ManagedProcess;
/** One ledger for the file: the accounting covers every row in the scenario's database. */
const ledger = new Ledger();

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '5 Redis down during ingest' });
  api = await stack.startApi();
});

afterAll(async () => {
  await stack?.close();
});

/** Sends events during an outage: batches of 10, so each slow 202 (the XADD must fail first) carries ten. */
async function ingestDuringOutage(planned: PlannedEvent[]): Promise<Ledger> {
  const during = new Ledger();
  await sendEvents(api.url, planned, during, { batchSize: 10, concurrency: 10 });
  for (const [id, expected] of during.accepted) ledger.accepted.set(id, expected);
  for (const id of during.rejected) ledger.rejected.add(id);
  for (const id of during.unavailable) ledger.unavailable.add(id);
  ledger.sent += during.sent;
  ledger.surprises.push(...during.surprises);
  return during;
}

/** The invariants that hold for a part of the traffic (rows of earlier tests are not strays here). */
const partOf = (report: Awaited<ReturnType<FaultStack['account']>>) => ({ ...expectationsOf(report), strayRows: 0 });
const PART_CLEAN = CLEAN;

async function expectRepublished(during: Ledger): Promise<void> {
  const outcomes = await readOutcomes(stack.pool, [...during.accepted.keys()]);
  expect([...outcomes.values()].filter((outcome) => !outcome.republished).map((outcome) => outcome.id)).toEqual([]);
}

describe('Redis unreachable during ingest, then back', () => {
  it('still answers 202 for every valid event; all are republished once Redis is back', async () => {
    // Arrange: a running pipeline that has already processed some traffic.
    consumer = await stack.startConsumer('reconciler', { RECONCILE_IDLE_INTERVAL_MS: '1000' });
    await sendEvents(api.url, planEvents(60, { violationEvery: 6 }), ledger);
    await stack.settle(ledger);

    // Act: Redis goes away (for the API and the consumer); events keep arriving; then Redis is back.
    await stack.redisDown();
    const during = await ingestDuringOutage(planEvents(80, { violationEvery: 8, invalid: 5 }));
    await stack.redisUp();
    await stack.settle(ledger);

    // Assert: 202 for every schema-valid event during the outage, 400 for the others; all end once.
    expect(during.accepted.size).toBe(80);
    expect(during.rejected.size).toBe(5);
    expect(during.unavailable.size).toBe(0);
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    await expectRepublished(during);
    expect(stack.redisApi.stats.dropped + stack.redisConsumers.stats.dropped).toBeGreaterThan(0);
  });

  // A consumer that saw the outage reconciles for two grace periods after its first successful look
  // at the stream, so the production resting interval (1 h) does not delay stranded events.
  it('with the default resting interval too: events stranded by an outage both sides saw are republished after the grace', async () => {
    // Arrange: a consumer with the production resting interval (1 h), past its start-up reconcile.
    await stack.kill(consumer);
    consumer = await stack.startConsumer('reconciler-default');
    await sleep(3000);

    // Act
    await stack.redisDown();
    const during = await ingestDuringOutage(planEvents(40, { violationEvery: 8, invalid: 2 }));
    await stack.redisUp();
    await stack.settle(during, { timeoutMs: 20_000, record: false });

    // Assert
    expect(partOf(await stack.account(during, { record: false }))).toEqual(PART_CLEAN);
    await expectRepublished(during);
  });

  // When only the API loses Redis (a partition, or a scheduled consumer that was not running), the
  // consumer sees no outage; the API's publish hints in the fallback queue bring the events through.
  it('when only the API lost Redis, its stranded events are republished after the grace too', async () => {
    // Arrange: the same consumer, idle for longer than two grace periods.
    await sleep(3000);

    // Act: the API's path to Redis is cut; the consumer's is not.
    await stack.redisApi.block();
    const during = await ingestDuringOutage(planEvents(20, { violationEvery: 8 }));
    await stack.redisApi.restore();
    await stack.settle(during, { timeoutMs: 20_000, record: false });

    // Assert
    expect(partOf(await stack.account(during, { record: false }))).toEqual(PART_CLEAN);
    await expectRepublished(during);
  });
});
