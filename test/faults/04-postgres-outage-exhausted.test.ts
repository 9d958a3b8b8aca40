// Fault 4: Postgres unreachable from the consumer past the last attempt (300 → 600 → 1200 ms with three
// attempts): the events are dead-lettered with the outage as reason; `redrive --all` then ends them processed once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Expected, Ledger, planEvents, sendEvents } from '../support/accounting.ts';
import { waitFor } from '../support/child-processes.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

const MAX_ATTEMPTS = 3;
/** Well over 300 + 600 + 1200 ms: every entry has been tried three times and its failure is due. */
const MIN_OUTAGE_MS = 4000;
const OUTAGE_FAILURE: Expected = { outcome: 'failed', errorType: 'DependencyUnavailableError' };

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({
    scenario: '4 Postgres down past last attempt, redrive',
    env: { MAX_ATTEMPTS: String(MAX_ATTEMPTS) },
  });
});

afterAll(async () => {
  await stack?.close();
});

describe('Postgres unreachable from the consumer past the last attempt', () => {
  let ledger: Ledger;
  const valid: string[] = [];

  it('dead-letters the events with the outage as error_type once Postgres is back', async () => {
    // Arrange: the API keeps its own path to Postgres; the consumer's path is cut before events arrive.
    const api = await stack.startApi();
    await stack.startConsumer('exhausted');
    ledger = new Ledger();
    await stack.pgConsumers.block();
    const outageStart = Date.now();

    // Act: 150 events arrive; the consumer tries each one MAX_ATTEMPTS times in vain.
    await sendEvents(api.url, planEvents(150, { violationEvery: 10, invalid: 5 }), ledger, { batchSize: 10 });
    for (const [id, expected] of ledger.accepted) {
      if (expected.outcome === 'processed') {
        valid.push(id);
        ledger.accepted.set(id, OUTAGE_FAILURE);
      }
    }
    await waitFor(
      `every entry to be delivered more than ${MAX_ATTEMPTS} times`,
      async () => {
        const pending = await stack.pendingDeliveries();
        return pending.length === ledger.accepted.size && pending.every((entry) => entry.deliveries > MAX_ATTEMPTS);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageStart + MIN_OUTAGE_MS - Date.now())));
    expect(await stack.countRows('failed_events')).toBe(0);
    await stack.pgConsumers.restore();
    await stack.settle(ledger);

    // Assert: every valid event failed with the outage's error type, each rule violation as such; once each.
    const report = await stack.account(ledger, { record: false });
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.failed).toBe(150);
    const attempts = await stack.pool.query<{ attempts: number; n: number }>(
      `SELECT attempts, count(*)::int AS n FROM failed_events WHERE error_type = 'DependencyUnavailableError' GROUP BY attempts`,
    );
    expect(attempts.rows).toEqual([{ attempts: MAX_ATTEMPTS, n: valid.length }]);
  });

  it('redrive --all replays them: the valid ones end processed exactly once, their failed rows gone', async () => {
    // Arrange: the dead letters of the previous test; from now on valid events must end processed.
    for (const id of valid) ledger.accepted.set(id, { outcome: 'processed' });

    // Act: the operator runs the redrive script against the same database and stream.
    const run = await stack.redrive(['--all']);
    await stack.settle(ledger);

    // Assert: the script replayed them; the accounting is exact again.
    expect(run.code, run.output).toBe(0);
    const replayed = Number(/replayed (\d+) failed event\(s\) onto stream/.exec(run.output)?.[1]);
    // Exactly every failed event once: a rule violation that fails again during the run is not picked
    // up a second time by a later page of the same run.
    expect(replayed).toBe(150);
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.processed).toBe(valid.length);
    expect(await stack.countRows('failed_events', `error_type <> 'RuleViolation'`)).toBe(0);
    expect(await stack.countRows('processed_events', 'attempts = 1')).toBe(valid.length);
    // Rule violations were replayed too and failed again: still one row each, open for another replay.
    expect(await stack.countRows('failed_events', 'replay_count = 1 AND replayed_at IS NULL')).toBe(150 - valid.length);
  });
});
