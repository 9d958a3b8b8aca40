// Fault 8: client retries racing each other: the same event_id sent five times at once (several ids,
// some breaking a rule). Each id must be stored once and end with exactly one outcome.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, Ledger, planEvents, postEvent, readOutcomes } from '../support/accounting.ts';
import { CLEAN, expectationsOf, FaultStack } from './harness.ts';

const COPIES = 5;

let stack: FaultStack;

beforeAll(async () => {
  stack = await FaultStack.start({ scenario: '8 same event_id sent 5x at once' });
});

afterAll(async () => {
  await stack?.close();
});

describe('the same event_id sent five times concurrently', () => {
  it('is accepted every time, stored once, and ends with exactly one outcome', async () => {
    // Arrange: two consumers racing as well, and 30 ids (3 rule violations) plus 3 invalid ones.
    const api = await stack.startApi();
    await Promise.all([stack.startConsumer('dup-a'), stack.startConsumer('dup-b')]);
    const ledger = new Ledger();
    const planned = planEvents(30, { violationEvery: 10, invalid: 3 });

    // Act: every copy of every id in flight at the same time; then once more after processing.
    const first = await Promise.all(
      planned.flatMap((event) => Array.from({ length: COPIES }, () => postEvent(api.url, event, ledger))),
    );
    await stack.settle(ledger);
    const again = await Promise.all(
      planned.flatMap((event) => Array.from({ length: COPIES }, () => postEvent(api.url, event, ledger))),
    );
    await stack.settle(ledger);

    // Assert: 202 for every copy of a valid id; exactly one copy stored it (duplicate: false).
    const byId = (answers: Answer[]) => {
      const groups = new Map<string, Answer[]>();
      answers.forEach((answer, i) => {
        const id = (planned[Math.floor(i / COPIES)] as { event_id: string }).event_id;
        groups.set(id, [...(groups.get(id) ?? []), answer]);
      });
      return groups;
    };
    for (const event of planned) {
      const copies = byId(first).get(event.event_id) ?? [];
      const later = byId(again).get(event.event_id) ?? [];
      if (event.expected === null) {
        expect(new Set([...copies, ...later].map((a) => a.status))).toEqual(new Set([400]));
        continue;
      }
      expect([...copies, ...later].map((a) => a.status)).toEqual(Array(2 * COPIES).fill(202));
      expect(copies.filter((a) => (a.body as { duplicate: boolean }).duplicate === false)).toHaveLength(1);
      expect(later.every((a) => (a.body as { duplicate: boolean }).duplicate === true)).toBe(true);
    }
    const outcomes = await readOutcomes(stack.pool, ledger.acceptedIds);
    expect([...outcomes.values()].every((o) => o.raw && o.processed + o.failed === 1)).toBe(true);
    const report = await stack.account(ledger);
    expect(expectationsOf(report)).toEqual(CLEAN);
    expect(report.sent).toBe(2 * COPIES * planned.length);
    expect(report.accepted).toBe(30);
  });
});
