// The consumer's policy without Redis or Postgres: one decision per delivery, and what a failed write
// turns it into. These are the rules behind "a dead letter means the event is bad".
import { describe, expect, it } from 'vitest';
import { type Decision, decide, decideBatch } from '../../lambdas/core/drain/decide.ts';
import type { Delivery } from '../../lambdas/core/drain/delivery.ts';
import { PAUSE_MAX_MS, pauseMs } from '../../lambdas/core/drain/outage.ts';
import { DependencyUnavailableError, SqlStatementError } from '../../lambdas/errors.ts';

const now = new Date('2026-11-30T12:00:00.000Z');
const settings = { consumer: 'worker-a', maxAttempts: 3, futureSkewMs: 300_000 };
const context = { now, settings, seen: new Set<string>() };

const event = (overrides: Record<string, unknown> = {}) => ({
  event_id: '0193a5b2-7c41-7d3e-9f00-000000000001',
  event_type: 'purchase',
  user_id: 'u-1',
  timestamp: '2026-11-30T11:59:00.000Z',
  properties: { amount: 25 },
  received_at: '2026-11-30T11:59:01.000Z',
  ...overrides,
});
const delivery = (data: unknown, deliveries = 1, id = '1764504000000-0'): Delivery => ({
  id,
  data: typeof data === 'string' || data === null ? data : JSON.stringify(data),
  deliveries,
});
const kind = (d: Decision) => d.kind;

describe('decide: the first pass', () => {
  it('processes a valid event with its enrichment and counted attempt', () => {
    const d = decide(delivery(event({ properties: { amount: 1500 } }), 2), context);
    expect(d.kind).toBe('process');
    if (d.kind !== 'process') return;
    expect(d.row).toMatchObject({ attempts: 2, enriched_data: { processed_by: 'worker-a', category: 'high_value' } });
  });

  it('dead-letters a rule violation at once, naming the field and the rule', () => {
    const d = decide(delivery(event({ properties: { amount: 0 } })), context);
    expect(d).toMatchObject({
      kind: 'deadLetter',
      row: { error_type: 'RuleViolation', error_message: 'properties.amount must be greater than 0', attempts: 1 },
    });
  });

  it('dead-letters an entry that is not an event under an id derived from the entry, not its content', () => {
    const d = decide(delivery('{"event_id":"0193a5b2-7c41-7d3e-9f00-000000000001"'), context);
    expect(d.kind).toBe('deadLetter');
    if (d.kind !== 'deadLetter') return;
    expect(d.row.error_type).toBe('UnparsableEntry');
    expect(d.row.event_id).not.toBe('0193a5b2-7c41-7d3e-9f00-000000000001');
    expect(decide(delivery(null), context)).toMatchObject({ row: { error_message: 'stream entry has no data field' } });
  });

  it('dead-letters past the last attempt with the noted error, or RetriesExhausted without one', () => {
    expect(decide(delivery(event(), 4), { ...context, note: { type: 'Error', message: 'boom' } })).toMatchObject({
      kind: 'deadLetter',
      row: { error_type: 'Error', error_message: 'boom', attempts: 3 },
    });
    expect(decide(delivery(event(), 4), context)).toMatchObject({ row: { error_type: 'RetriesExhausted' } });
  });

  it('counts an event seen earlier in the batch as a duplicate', () => {
    const twice = decideBatch([delivery(event(), 1, '1-0'), delivery(event(), 1, '2-0')], { now, settings, notes: new Map() });
    expect(twice.map(kind)).toEqual(['process', 'duplicate']);
  });
});

describe('decide: after a failed write', () => {
  const again = (error: unknown, deliveries = 1, wrote: 'process' | 'deadLetter' = 'process') =>
    decide(delivery(event(), deliveries), { ...context, writeFailure: { error, wrote } });

  it('pauses on an unavailable dependency, whatever the attempt: an outage never dead-letters', () => {
    const outage = new DependencyUnavailableError('database', 'connection refused');
    expect(again(outage, 1).kind).toBe('pause');
    expect(again(outage, 3).kind).toBe('pause');
    expect(again(outage, 3, 'deadLetter').kind).toBe('pause');
  });

  it('dead-letters a row the database refused, with the database error', () => {
    expect(again(new SqlStatementError('value too long', '22001'))).toMatchObject({
      kind: 'deadLetter',
      row: { error_type: 'SqlStatementError', error_message: 'value too long' },
    });
  });

  it('retries any other failure while attempts remain, and dead-letters it on the last', () => {
    expect(again(new Error('odd'), 2)).toMatchObject({ kind: 'retry', error: { type: 'Error', message: 'odd' } });
    expect(again(new Error('odd'), 3)).toMatchObject({ kind: 'deadLetter', row: { error_type: 'Error', attempts: 3 } });
  });

  it('leaves a dead letter whose write failed for another reason pending for a retry', () => {
    expect(again(new Error('odd'), 3, 'deadLetter').kind).toBe('retry');
  });
});

describe('pause backoff', () => {
  it('doubles from 250 ms with jitter in the upper half and stops at the cap', () => {
    expect(pauseMs(0, () => 0)).toBe(125);
    expect(pauseMs(0, () => 1)).toBe(250);
    expect(pauseMs(3, () => 1)).toBe(2000);
    expect(pauseMs(30, () => 1)).toBe(PAUSE_MAX_MS);
    expect(pauseMs(30, () => 0)).toBe(PAUSE_MAX_MS / 2);
  });
});
