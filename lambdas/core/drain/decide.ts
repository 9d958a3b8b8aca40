// The consumer's policy, as one pure function: what happens to each delivery. No I/O, no clock
// reads, no Redis or Postgres: every input is in the arguments, so every rule has a unit test.
import { type AcceptedEvent, parseStreamedEvent, toStorableText } from '../../../schemas/event.ts';
import { DependencyUnavailableError, errorMessage, errorType, SqlStatementError } from '../../errors.ts';
import type { ErrorRecord } from '../../ports.ts';
import { streamIdTime } from '../../shared/stream-ids.ts';
import type { FailedRow, ProcessedRow } from '../outcomes.ts';
import { type Delivery, type DrainSettings, entryEventId } from './delivery.ts';
import { enrich } from './enrich.ts';
import { RETRIES_EXHAUSTED, RULE_VIOLATION, UNPARSABLE_ENTRY } from './error-types.ts';
import { ruleViolations } from './validate.ts';

export type Decision =
  /** Write to processed_events (the outcome may turn out to be claimed already: a duplicate). */
  | { readonly kind: 'process'; readonly eventType: string; readonly event: AcceptedEvent; readonly row: ProcessedRow }
  /** Write to failed_events: the event (or entry) itself is the problem, or its attempts ran out. */
  | { readonly kind: 'deadLetter'; readonly eventType: string; readonly row: FailedRow }
  /** Already decided in this batch: acknowledge, no write. */
  | { readonly kind: 'duplicate'; readonly eventType: string }
  /** Failed for a reason that may be the event's: leave pending; the attempt counts. */
  | { readonly kind: 'retry'; readonly eventType: string; readonly error: ErrorRecord }
  /** A dependency is unavailable: leave pending, stop taking work; the attempt does not count. */
  | { readonly kind: 'pause'; readonly eventType: string; readonly error: DependencyUnavailableError };

export interface DecideContext {
  readonly now: Date;
  readonly settings: Pick<DrainSettings, 'consumer' | 'maxAttempts' | 'futureSkewMs'>;
  /** Event ids decided earlier in the same batch. */
  readonly seen: ReadonlySet<string>;
  /** The last error noted for the entry (read for entries past their attempts). */
  readonly note?: ErrorRecord | undefined;
  /** Set on the second pass: writing the first decision's outcome failed with this error. */
  readonly writeFailure?: { readonly error: unknown; readonly wrote: 'process' | 'deadLetter' } | undefined;
}

const entryTime = (id: string): string => new Date(streamIdTime(id)).toISOString();

/**
 * A dead letter for an entry that is not an event. Its id is derived from the entry, never taken from
 * its content: garbage must not claim the outcome of a real event. Text Postgres cannot store (NUL,
 * lone surrogates) is replaced for reading, with the exact bytes kept in base64.
 */
function unparsableRow(delivery: Delivery): FailedRow {
  const data = delivery.data;
  const readable = data === null ? null : toStorableText(data);
  return {
    event_id: entryEventId(delivery),
    payload: {
      stream_entry_id: delivery.id,
      data: readable,
      ...(data !== null && readable !== data ? { data_base64: Buffer.from(data, 'utf8').toString('base64') } : {}),
    },
    received_at: entryTime(delivery.id),
    error_type: UNPARSABLE_ENTRY,
    error_message: data === null ? 'stream entry has no data field' : 'stream entry data is not a valid event',
    attempts: delivery.deliveries,
  };
}

function failedRow(event: AcceptedEvent, error: ErrorRecord, attempts: number): FailedRow {
  return {
    event_id: event.event_id,
    payload: event,
    received_at: event.received_at,
    error_type: error.type,
    error_message: error.message,
    attempts,
  };
}

const record = (error: unknown): ErrorRecord => ({ type: errorType(error), message: errorMessage(error) });

/** What happens to one delivery. Call once per delivery, and again with `writeFailure` if its write failed. */
export function decide(delivery: Delivery, context: DecideContext): Decision {
  const event = parseStreamedEvent(delivery.data);
  if (!event) {
    const row = unparsableRow(delivery);
    return context.writeFailure
      ? afterFailedWrite(delivery, context, 'unknown', row)
      : { kind: 'deadLetter', eventType: 'unknown', row };
  }
  const eventType = event.event_type;
  if (context.writeFailure) {
    return afterFailedWrite(
      delivery,
      context,
      eventType,
      failedRow(event, record(context.writeFailure.error), delivery.deliveries),
    );
  }
  if (context.seen.has(event.event_id)) return { kind: 'duplicate', eventType };
  const { settings, now } = context;
  const violations = ruleViolations(event, { now, futureSkewMs: settings.futureSkewMs });
  if (violations.length > 0) {
    const message = violations.map((v) => `${v.path} ${v.message}`).join('; ');
    return { kind: 'deadLetter', eventType, row: failedRow(event, { type: RULE_VIOLATION, message }, delivery.deliveries) };
  }
  if (delivery.deliveries > settings.maxAttempts) {
    const error = context.note ?? { type: RETRIES_EXHAUSTED, message: `gave up after ${settings.maxAttempts} attempts` };
    return { kind: 'deadLetter', eventType, row: failedRow(event, error, settings.maxAttempts) };
  }
  return {
    kind: 'process',
    eventType,
    event,
    row: {
      event_id: event.event_id,
      event_type: event.event_type,
      user_id: event.user_id,
      occurred_at: event.timestamp,
      properties: event.properties,
      enriched_data: enrich(event, { workerId: settings.consumer, now }),
      attempts: delivery.deliveries,
      payload: event,
      received_at: event.received_at,
    },
  };
}

/**
 * After a failed write. An unavailable dependency pauses the drain and costs no attempt. A statement
 * the database refused for this row is the event's own fault: dead-lettered now (a refused dead letter
 * is the writer's to keep elsewhere). Anything else may be the event's: retried while attempts remain.
 */
function afterFailedWrite(delivery: Delivery, context: DecideContext, eventType: string, deadLetterRow: FailedRow): Decision {
  const failure = context.writeFailure;
  const error = failure?.error;
  if (error instanceof DependencyUnavailableError) return { kind: 'pause', eventType, error };
  if (
    failure?.wrote === 'process' &&
    (error instanceof SqlStatementError || delivery.deliveries >= context.settings.maxAttempts)
  ) {
    return { kind: 'deadLetter', eventType, row: deadLetterRow };
  }
  return { kind: 'retry', eventType, error: record(error) };
}

/** First-pass decisions for a batch, in order; an event seen twice in one batch is decided once. */
export function decideBatch(
  deliveries: readonly Delivery[],
  context: Omit<DecideContext, 'seen' | 'note' | 'writeFailure'> & { readonly notes: ReadonlyMap<string, ErrorRecord> },
): Decision[] {
  const seen = new Set<string>();
  return deliveries.map((delivery) => {
    const decision = decide(delivery, { ...context, seen, note: context.notes.get(delivery.id) });
    if (decision.kind === 'process' || decision.kind === 'deadLetter') seen.add(decision.row.event_id);
    return decision;
  });
}
