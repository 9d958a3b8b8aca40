// The outcome writer: processed rows, dead letters (table, then an SQS copy) and retry notes. Reports
// what it could not write and why; it decides nothing (decide.ts does) and never acknowledges.
import { errorMessage } from '../../errors.ts';
import type { Metrics } from '../../observability/metric-names.ts';
import type { Clock, DeadLetter, DeadLetterQueue, ErrorRecord, EventStream, Logger, SqlExecutor } from '../../ports.ts';
import { writeIsolating } from '../isolate.ts';
import { type FailedRow, type ProcessedRow, recordFailed, recordProcessed } from '../outcomes.ts';

export interface WriterDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly dlq?: DeadLetterQueue | undefined;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface ProcessedWrite<T> {
  /** Event ids whose processed row was written now (the others already had an outcome). */
  readonly written: Set<string>;
  /** Items not written, with why: a row the database refused, or an outage for all of them. */
  readonly failed: Map<T, unknown>;
}

export interface DeadLetterWrite<T> {
  /** When each dead letter written now was stamped (the others already had an outcome). */
  readonly failedAt: Map<string, string>;
  /** Dead letters the database refused as data (only entries that never were accepted events). */
  readonly refused: Map<T, unknown>;
  /** Items not written because the write failed for all of them (an outage, typically). */
  readonly failed: Map<T, unknown>;
}

export function createOutcomeWriter(deps: WriterDeps) {
  const { sql, stream, metrics, logger, clock } = deps;

  async function writeProcessed<T extends { row: ProcessedRow }>(items: readonly T[]): Promise<ProcessedWrite<T>> {
    try {
      const { results, refused } = await writeIsolating(items, async (batch) => [
        ...(await recordProcessed(
          sql,
          batch.map((item) => item.row),
        )),
      ]);
      return { written: new Set(results), failed: refused };
    } catch (error) {
      return { written: new Set(), failed: new Map(items.map((item) => [item, error])) };
    }
  }

  async function writeDeadLetters<T extends { row: FailedRow }>(items: readonly T[]): Promise<DeadLetterWrite<T>> {
    try {
      const { results, refused } = await writeIsolating(items, async (batch) => [
        ...(await recordFailed(
          sql,
          batch.map((item) => item.row),
        )),
      ]);
      for (const [item, error] of refused) {
        // Only entries that never were accepted events get here (ingest refuses what Postgres cannot
        // store): acknowledged so they cannot block the stream; the SQS copy and this log keep them.
        logger.error('dead letter the database refused; acknowledged, kept in the SQS DLQ and this log only', {
          event_id: item.row.event_id,
          payload: item.row.payload,
          error: errorMessage(error),
        });
      }
      return { failedAt: new Map(results), refused, failed: new Map() };
    } catch (error) {
      return { failedAt: new Map(), refused: new Map(), failed: new Map(items.map((item) => [item, error])) };
    }
  }

  /** The SQS copy of dead letters: a notification; failed_events is the record, so a miss is counted, not thrown. */
  async function notifyDeadLetters(rows: ReadonlyArray<{ row: FailedRow; failedAt: string | undefined }>): Promise<void> {
    if (!deps.dlq || rows.length === 0) return;
    const letters: DeadLetter[] = rows.map(({ row, failedAt }) => ({
      eventId: row.event_id,
      payload: row.payload,
      errorType: row.error_type,
      errorMessage: row.error_message,
      attempts: row.attempts,
      failedAt: failedAt ?? clock.now().toISOString(),
    }));
    try {
      await deps.dlq.send(letters);
    } catch (error) {
      metrics.count('deadLetterPublishFailed', letters.length);
      logger.error('could not send dead letters to SQS', { count: letters.length, error: errorMessage(error) });
    }
  }

  /** Remembers why entries left pending failed, so their eventual dead letter names the real reason. */
  async function noteRetries(retries: ReadonlyArray<{ id: string; error: ErrorRecord }>): Promise<void> {
    if (retries.length === 0) return;
    // A lost note only makes a later dead letter say RetriesExhausted instead of the last error.
    await stream.noteErrors(retries).catch((error) => logger.warn('could not note retry errors', { error: errorMessage(error) }));
  }

  /** Drops the notes of entries that reached an outcome. */
  async function forgetRetries(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // A note left behind costs a few bytes in the notes hash and is overwritten by a later failure.
    await stream.forgetErrors(ids).catch((error) => logger.warn('could not forget retry notes', { error: errorMessage(error) }));
  }

  return { writeProcessed, writeDeadLetters, notifyDeadLetters, noteRetries, forgetRetries };
}

export type OutcomeWriter = ReturnType<typeof createOutcomeWriter>;
