// Fault 9: poison entries written straight onto the stream (not JSON, no data field, JSON that is not an
// event) are dead-lettered once each and acknowledged, and never hold up the real events around them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '9 poison stream entries' });
});

afterAll(async () => {
  await stack?.close();
});

describe('poison entries on the stream', () => {
  it('end in failed_events as UnparsableEntry once each, the stream fully acknowledged, real events processed', async () => {
    // Arrange: a running pipeline and real traffic around the poison.
    const api = await stack.startApi();
    await stack.startConsumer('poison');
    const ledger = new Ledger();
    const before = planEvents(40, { violationEvery: 8, invalid: 4 });
    const after = planEvents(40, { violationEvery: 8 });
    const claimedId = crypto.randomUUID();

    // Act: events, then three kinds of poison XADDed directly, then more events.
    await sendEvents(api.url, before, ledger);
    const poison = [
      await stack.redis.xadd(stack.streamKey, '*', 'data', '{"event_type": "purchase", '),
      await stack.redis.xadd(stack.streamKey, '*', 'payload', JSON.stringify({ event_type: 'custom' })),
      await stack.redis.xadd(stack.streamKey, '*', 'data', JSON.stringify({ event_id: claimedId, event_type: 'refund' })),
      await stack.redis.xadd(stack.streamKey, '*', 'data', JSON.stringify({ hello: 'world' })),
    ].map(String);
    ledger.sent += poison.length;
    await sendEvents(api.url, after, ledger);

    const poisonRows = await waitFor(
      'a failed_events row for every poison entry',
      async () => {
        const rows = await stack.pool.query<{ event_id: string; entry: string; error_type: string; attempts: number }>(
          `SELECT event_id::text, payload->>'stream_entry_id' AS entry, error_type, attempts
           FROM failed_events WHERE payload->>'stream_entry_id' = ANY($1::text[])`,
          [poison],
        );
        return rows.rows.length >= poison.length ? rows.rows : null;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const row of poisonRows) ledger.accepted.set(row.event_id, { outcome: 'failed', errorType: 'UnparsableEntry' });
    await stack.settle(ledger);

    // Assert: one UnparsableEntry row per poison entry, under an id derived from the entry: garbage that
    // names an event_id must not take over that event's outcome.
    expect(poisonRows.map((row) => row.entry).sort()).toEqual([...poison].sort());
    expect(new Set(poisonRows.map((row) => row.event_id)).size).toBe(poison.length);
    expect(poisonRows.every((row) => row.error_type === 'UnparsableEntry')).toBe(true);
    expect(poisonRows.find((row) => row.entry === poison[2])?.event_id).not.toBe(claimedId);
    expect((await stack.pool.query('SELECT 1 FROM raw_events WHERE event_id = $1', [claimedId])).rows).toEqual([]);
    expect((await stack.streamState()).pending).toBe(0);
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.accepted).toBe(before.length - 4 + after.length + poison.length);
    // Every dead letter also went to the SQS dead-letter queue, once.
    const letters = await stack.drainDeadLetters();
    expect(letters.sort()).toEqual(
      [...ledger.accepted]
        .filter(([, expected]) => expected.outcome === 'failed')
        .map(([id]) => id)
        .sort(),
    );
  });
});
