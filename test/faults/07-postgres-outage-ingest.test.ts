// Fault 7: Postgres unreachable at ingest. With the SQS fallback queue up, events are still accepted
// (202) and later drained into Postgres; with SQS down too, the API answers 503 and stores nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, readOutcomes, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;
let api: { url: string };
/** One ledger for the file: the accounting covers every row in the scenario's database. */
const ledger = new Ledger();

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '7 Postgres down during ingest' });
  api = await stack.startApi();
  await stack.startConsumer('fallback');
});

afterAll(async () => {
  await stack?.close();
});

describe('Postgres unreachable during ingest', () => {
  it('with the fallback queue: answers 202, and once Postgres is back the consumer drains the queue into processed', async () => {
    // Arrange: some traffic processed normally.
    await sendEvents(api.url, planEvents(30, { violationEvery: 6 }), ledger);
    await stack.settle(ledger);

    // Act: Postgres goes away for everyone; events arrive; Postgres comes back.
    await stack.postgresDown();
    const during = new Ledger();
    const planned = planEvents(100, { violationEvery: 10, invalid: 5 });
    await sendEvents(api.url, planned, during, { concurrency: 8 });
    const queuedWhileDown = await stack.queueDepth('fallback');
    const inPostgresWhileDown = [...(await readOutcomes(stack.pool, [...during.accepted.keys()])).values()].filter((o) => o.raw);
    await stack.postgresUp();
    for (const [id, expected] of during.accepted) ledger.accepted.set(id, expected);
    for (const id of during.rejected) ledger.rejected.add(id);
    ledger.sent += during.sent;
    ledger.surprises.push(...during.surprises);
    await stack.settle(ledger);

    // Assert: 202 for the valid ones while Postgres was down (held by SQS), 400 for the invalid ones.
    expect(during.accepted.size).toBe(100);
    expect(during.rejected.size).toBe(5);
    expect(during.unavailable.size).toBe(0);
    expect(queuedWhileDown).toBe(100);
    expect(inPostgresWhileDown).toEqual([]);
    // Every one reached raw_events through the fallback drain (which marks them republished) and ended once.
    const outcomes = await readOutcomes(stack.pool, [...during.accepted.keys()]);
    expect([...outcomes.values()].filter((outcome) => !outcome.republished)).toEqual([]);
    await waitFor('the fallback queue to be empty', async () => (await stack.queueDepth('fallback')) === 0, {
      timeoutMs: 10_000,
      intervalMs: 200,
    });
    const report = await stack.account(ledger, { record: false });
    expect(expectationsOf(report)).toEqual(CLEAN);
  });

  it('with the fallback queue down too: answers 503 with Retry-After, and nothing of those events is stored', async () => {
    // Arrange: both durable stores unreachable for the API.
    await stack.postgresDown();
    await stack.sqsProxy.block();

    // Act
    const during = new Ledger();
    const planned = planEvents(30, { violationEvery: 10, invalid: 3 });
    await sendEvents(api.url, planned, during, { concurrency: 6 });
    await stack.sqsProxy.restore();
    await stack.postgresUp();
    for (const id of during.unavailable) ledger.unavailable.add(id);
    for (const id of during.rejected) ledger.rejected.add(id);
    ledger.sent += during.sent;
    ledger.surprises.push(...during.surprises);
    // Traffic after the outage: the pipeline is whole again.
    await sendEvents(api.url, planEvents(20, { violationEvery: 10 }), ledger);
    await stack.settle(ledger);

    // Assert: 503 + Retry-After for each valid event, 400 still for invalid ones; none stored anywhere.
    expect(during.accepted.size).toBe(0);
    expect(during.unavailable.size).toBe(30);
    expect(during.rejected.size).toBe(3);
    expect(new Set(during.retryAfter)).toEqual(new Set(['5']));
    expect(await stack.queueDepth('fallback')).toBe(0);
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.refused).toBe(5 + 33);
  });
});
