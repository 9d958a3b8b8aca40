// The consumer: drains the stream's consumer group into processed_events / failed_events with
// retries by delivery count, then acknowledges. Never acks an entry before its outcome is committed.
import { createHash } from 'node:crypto';
import { type AcceptedEvent, enrich, parseStreamedEvent, ruleViolations, toStorableText } from '../../schemas/event.ts';
import { DependencyUnavailableError, errorMessage, errorType, SqlStatementError, StreamGroupMissingError } from '../errors.ts';
import type { Metrics } from '../observability/metric-names.ts';
import type {
  Clock,
  DeadLetter,
  DeadLetterQueue,
  ErrorRecord,
  EventStream,
  IngestFallbackQueue,
  Logger,
  SqlExecutor,
  StreamEntry,
} from '../ports.ts';
import { streamIdTime } from '../stream-ids.ts';
import { writeIsolating } from './isolate.ts';
import { newMaintenanceState, runMaintenance } from './maintenance.ts';
import { type FailedRow, type ProcessedRow, recordFailed, recordProcessed, UNPARSABLE } from './store.ts';

/** error_type of events that broke a business rule. */
export const RULE_VIOLATION = 'RuleViolation';
/** error_type when attempts ran out and no earlier error was noted. */
export const RETRIES_EXHAUSTED = 'RetriesExhausted';

export interface DrainDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly dlq?: DeadLetterQueue;
  readonly fallback?: IngestFallbackQueue;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface DrainSettings {
  /** This consumer's name in the group; unique per process/container. */
  readonly consumer: string;
  readonly mode: 'scheduled' | 'continuous';
  readonly batchSize: number;
  readonly blockMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly futureSkewMs: number;
  readonly reconcileGraceMs: number;
  readonly reconcileIdleIntervalMs: number;
  readonly maintenanceIntervalMs: number;
}

export interface DrainBudget {
  /** Milliseconds left (Lambda: context.getRemainingTimeInMillis). */
  remainingMs(): number;
  /** No new batch is taken with less than this left. */
  readonly marginMs: number;
  /** Set by a signal handler to stop after the batch in flight. */
  shouldStop?(): boolean;
}

export interface BatchCounts {
  processed: number;
  failed: number;
  duplicates: number;
  retried: number;
}

export interface DrainSummary extends BatchCounts {
  batches: number;
  republished: number;
  fromFallback: number;
}

interface Delivery extends StreamEntry {
  /** Deliveries so far including this one (1 on the first read). */
  readonly deliveries: number;
}

/** Backoff before the next delivery: base × 2^(deliveries−1), capped at the last attempt's. */
export function backoffMs(deliveries: number, settings: Pick<DrainSettings, 'retryBaseMs' | 'maxAttempts'>): number {
  const step = Math.max(1, Math.min(deliveries, settings.maxAttempts));
  return settings.retryBaseMs * 2 ** (step - 1);
}

/** A stable UUID for an entry that carries no usable event_id, so its dead letter is written once. */
export function entryEventId(entry: StreamEntry): string {
  const hex = createHash('sha1')
    .update(`${entry.id}\n${entry.data ?? ''}`)
    .digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const entryTime = (id: string): string => new Date(streamIdTime(id)).toISOString();

/**
 * A dead letter for an entry that is not an event. Its id is derived from the entry, never taken from
 * its content: garbage must not claim the outcome of a real event. Text Postgres cannot store (NUL,
 * lone surrogates) is replaced for reading, with the exact bytes kept in base64.
 */
function unparsableFailure(entry: Delivery): FailedRow {
  const data = entry.data;
  const readable = data === null ? null : toStorableText(data);
  return {
    event_id: entryEventId(entry),
    payload: {
      stream_entry_id: entry.id,
      data: readable,
      ...(data !== null && readable !== data ? { data_base64: Buffer.from(data, 'utf8').toString('base64') } : {}),
    },
    received_at: entryTime(entry.id),
    error_type: UNPARSABLE,
    error_message: data === null ? 'stream entry has no data field' : 'stream entry data is not a valid event',
    attempts: entry.deliveries,
  };
}

function eventFailure(event: AcceptedEvent, type: string, message: string, attempts: number): FailedRow {
  return {
    event_id: event.event_id,
    payload: event,
    received_at: event.received_at,
    error_type: type,
    error_message: message,
    attempts,
  };
}

/** Creates the drain loop bound to its dependencies; `handleBatch` is exposed for tests. */
export function createDrainer(deps: DrainDeps, settings: DrainSettings) {
  const { sql, stream, metrics, logger, clock } = deps;
  let groupReady = false;
  const maintenance = newMaintenanceState();

  /**
   * Writes processed rows; returns the ids written now and the items not written, with why (a row
   * the database refused, or an outage for the whole batch).
   */
  async function writeProcessed(
    items: ReadonlyArray<{ delivery: Delivery; event: AcceptedEvent; row: ProcessedRow }>,
  ): Promise<{ written: Set<string>; failedWrites: Array<{ item: (typeof items)[number]; error: unknown }> }> {
    try {
      const { results, refused } = await writeIsolating(items, async (batch) => [
        ...(await recordProcessed(
          sql,
          batch.map((item) => item.row),
        )),
      ]);
      return { written: new Set(results), failedWrites: [...refused].map(([item, error]) => ({ item, error })) };
    } catch (error) {
      return { written: new Set(), failedWrites: items.map((item) => ({ item, error })) };
    }
  }

  type Failure = { delivery: Delivery; row: FailedRow; eventType: string };

  /**
   * Writes dead letters; returns when each was written, the rows the database refused (unstorable),
   * and, when the database is unavailable, every item with that error (transient).
   */
  async function writeFailures(items: readonly Failure[]): Promise<{
    failedAt: Map<string, string>;
    unstorable: Map<Failure, unknown>;
    transient: Map<Failure, unknown>;
  }> {
    try {
      const { results, refused } = await writeIsolating(items, async (batch) => [
        ...(await recordFailed(
          sql,
          batch.map((item) => item.row),
        )),
      ]);
      return { failedAt: new Map(results), unstorable: refused, transient: new Map() };
    } catch (error) {
      return { failedAt: new Map(), unstorable: new Map(), transient: new Map(items.map((item) => [item, error])) };
    }
  }

  /** Decides, writes and acknowledges one batch of deliveries. */
  async function handleBatch(deliveries: readonly Delivery[]): Promise<BatchCounts> {
    const started = performance.now();
    const now = clock.now();
    const counts: BatchCounts = { processed: 0, failed: 0, duplicates: 0, retried: 0 };
    const exhaustedIds = deliveries.filter((d) => d.deliveries > settings.maxAttempts).map((d) => d.id);
    const notes = exhaustedIds.length > 0 ? await stream.readErrors(exhaustedIds) : new Map<string, ErrorRecord>();

    const toProcess: Array<{ delivery: Delivery; event: AcceptedEvent; row: ProcessedRow }> = [];
    const failures: Failure[] = [];
    const ackNow = new Set<string>();
    const retry: Array<{ id: string; error: ErrorRecord }> = [];
    const typeOf = new Map<string, string>();
    const seen = new Set<string>();

    for (const delivery of deliveries) {
      const event = parseStreamedEvent(delivery.data);
      if (!event) {
        failures.push({ delivery, row: unparsableFailure(delivery), eventType: 'unknown' });
        continue;
      }
      typeOf.set(delivery.id, event.event_type);
      if (seen.has(event.event_id)) {
        // The same event twice in one batch (a republish met its original): one outcome is enough.
        ackNow.add(delivery.id);
        counts.duplicates++;
        metrics.count('eventsDuplicate', 1, { event_type: event.event_type });
        continue;
      }
      seen.add(event.event_id);
      const violations = ruleViolations(event, { now, futureSkewMs: settings.futureSkewMs });
      if (violations.length > 0) {
        const message = violations.map((v) => `${v.path} ${v.message}`).join('; ');
        failures.push({
          delivery,
          row: eventFailure(event, RULE_VIOLATION, message, delivery.deliveries),
          eventType: event.event_type,
        });
        continue;
      }
      if (delivery.deliveries > settings.maxAttempts) {
        const note = notes.get(delivery.id);
        failures.push({
          delivery,
          row: eventFailure(
            event,
            note?.type ?? RETRIES_EXHAUSTED,
            note?.message ?? `gave up after ${settings.maxAttempts} attempts`,
            settings.maxAttempts,
          ),
          eventType: event.event_type,
        });
        continue;
      }
      const enrichment = enrich(event, { workerId: settings.consumer, now });
      toProcess.push({
        delivery,
        event,
        row: {
          event_id: event.event_id,
          event_type: event.event_type,
          user_id: event.user_id,
          occurred_at: event.timestamp,
          properties: event.properties,
          enriched_data: enrichment,
          attempts: delivery.deliveries,
          payload: event,
          received_at: event.received_at,
        },
      });
    }

    const { written, failedWrites } = await writeProcessed(toProcess);
    const notWritten = new Set(failedWrites.map((f) => f.item.delivery));
    for (const { delivery, event } of toProcess) {
      if (notWritten.has(delivery)) continue;
      ackNow.add(delivery.id);
      if (written.has(event.event_id)) {
        counts.processed++;
        metrics.count('eventsProcessed', 1, { event_type: event.event_type });
      } else {
        counts.duplicates++;
        metrics.count('eventsDuplicate', 1, { event_type: event.event_type });
      }
    }
    for (const { item, error } of failedWrites) {
      const permanent = error instanceof SqlStatementError;
      if (permanent || item.delivery.deliveries >= settings.maxAttempts) {
        failures.push({
          delivery: item.delivery,
          row: eventFailure(item.event, errorType(error), errorMessage(error), item.delivery.deliveries),
          eventType: item.event.event_type,
        });
      } else {
        retry.push({ id: item.delivery.id, error: { type: errorType(error), message: errorMessage(error) } });
      }
    }

    if (failures.length > 0) {
      const { failedAt, unstorable, transient } = await writeFailures(failures);
      const letters: DeadLetter[] = [];
      for (const failure of failures) {
        const transientError = transient.get(failure);
        if (transientError) {
          // Not written: leave it pending; the note explains the next attempt's failure record.
          retry.push({
            id: failure.delivery.id,
            error: { type: errorType(transientError), message: errorMessage(transientError) },
          });
          continue;
        }
        ackNow.add(failure.delivery.id);
        const at = failedAt.get(failure.row.event_id);
        const refused = unstorable.get(failure);
        if (at === undefined && !refused) {
          counts.duplicates++;
          metrics.count('eventsDuplicate', 1, { event_type: failure.eventType });
          continue;
        }
        counts.failed++;
        metrics.count('eventsFailed', 1, { event_type: failure.eventType, error_type: failure.row.error_type });
        if (refused) {
          // Only entries that never were accepted events get here (ingest refuses what Postgres cannot
          // store): acknowledged so they cannot block the stream; the SQS copy and this log keep them.
          logger.error('dead letter the database refused; acknowledged, kept in the SQS DLQ and this log only', {
            stream_entry_id: failure.delivery.id,
            payload: failure.row.payload,
            error: errorMessage(refused),
          });
        }
        letters.push({
          eventId: failure.row.event_id,
          payload: failure.row.payload,
          errorType: failure.row.error_type,
          errorMessage: failure.row.error_message,
          attempts: failure.row.attempts,
          failedAt: at ?? clock.now().toISOString(),
        });
      }
      await sendDeadLetters(letters);
    }

    if (retry.length > 0) {
      counts.retried += retry.length;
      for (const r of retry) metrics.count('eventsRetried', 1, { error_type: r.error.type });
      logger.warn('entries left pending for retry', { count: retry.length, error: retry[0]?.error });
      await stream.noteErrors(retry).catch((error) => logger.warn('could not note retry errors', { error: String(error) }));
    }
    if (ackNow.size > 0) {
      await stream.ack([...ackNow]);
      const retriedBefore = deliveries.filter((d) => d.deliveries > 1 && ackNow.has(d.id)).map((d) => d.id);
      if (retriedBefore.length > 0) await stream.forgetErrors(retriedBefore).catch(() => {});
    }

    const seconds = (performance.now() - started) / 1000;
    const nowMs = clock.now().getTime();
    for (const delivery of deliveries) {
      if (!ackNow.has(delivery.id)) continue;
      metrics.observe('processingDuration', seconds, { event_type: typeOf.get(delivery.id) ?? 'unknown' });
      metrics.observe('queueWait', Math.max(0, (nowMs - streamIdTime(delivery.id)) / 1000));
    }
    return counts;
  }

  async function sendDeadLetters(letters: Parameters<DeadLetterQueue['send']>[0]): Promise<void> {
    if (!deps.dlq || letters.length === 0) return;
    try {
      await deps.dlq.send(letters);
    } catch (error) {
      // failed_events is the record; the SQS copy is a notification. Count the miss loudly.
      metrics.count('deadLetterPublishFailed', letters.length);
      logger.error('could not send dead letters to SQS', { count: letters.length, error: String(error) });
    }
  }

  /** Entries whose backoff has elapsed (failed attempts, crashed consumers), claimed for us. */
  async function claimDue(): Promise<Delivery[]> {
    // Oldest first: a wide window, so entries still waiting out a long backoff do not hide due ones.
    const candidates = await stream.pending({ minIdleMs: settings.retryBaseMs, count: Math.max(500, settings.batchSize * 10) });
    const due = candidates.filter((p) => p.idleMs >= backoffMs(p.deliveries, settings)).slice(0, settings.batchSize);
    if (due.length === 0) return [];
    const deliveriesById = new Map(due.map((p) => [p.id, p.deliveries]));
    const claimed = await stream.claim(
      settings.consumer,
      due.map((p) => p.id),
      settings.retryBaseMs,
    );
    return claimed.map((entry) => ({ ...entry, deliveries: (deliveriesById.get(entry.id) ?? 0) + 1 }));
  }

  async function drain(budget: DrainBudget): Promise<DrainSummary> {
    const summary: DrainSummary = {
      batches: 0,
      processed: 0,
      failed: 0,
      duplicates: 0,
      retried: 0,
      republished: 0,
      fromFallback: 0,
    };
    const stopping = () => budget.shouldStop?.() === true || budget.remainingMs() < budget.marginMs;
    let lastMaintenance = Number.NEGATIVE_INFINITY;
    let idlePollMs = 0;
    let outageMs = 0;
    while (!stopping()) {
      try {
        if (!groupReady) {
          await stream.ensureGroup();
          groupReady = true;
        }
        if (clock.now().getTime() - lastMaintenance >= settings.maintenanceIntervalMs) {
          lastMaintenance = clock.now().getTime();
          const done = await runMaintenance(deps, settings, maintenance);
          summary.republished += done.republished;
          summary.fromFallback += done.fromFallback;
        }
        let batch = await claimDue();
        if (batch.length === 0) {
          // Capped at the retry base so a retry waiting in the pending list is not held up by a long block.
          const blockMs =
            settings.mode === 'continuous'
              ? Math.max(0, Math.min(settings.blockMs, settings.retryBaseMs, budget.remainingMs() - budget.marginMs))
              : 0;
          const asked = performance.now();
          const entries = await stream.readNew(settings.consumer, {
            count: settings.batchSize,
            ...(blockMs > 0 ? { blockMs } : {}),
          });
          batch = entries.map((entry) => ({ ...entry, deliveries: 1 }));
          if (batch.length === 0) {
            if (settings.mode === 'scheduled') break;
            // A stream that cannot block (Upstash REST) answers at once: poll with a growing pause.
            if (blockMs === 0 || performance.now() - asked < blockMs / 2) {
              idlePollMs = Math.min(Math.max(idlePollMs * 2, 50), 1000);
              await sleep(Math.min(idlePollMs, Math.max(0, budget.remainingMs() - budget.marginMs)));
            }
            continue;
          }
        }
        idlePollMs = 0;
        outageMs = 0;
        const counts = await handleBatch(batch);
        summary.batches++;
        summary.processed += counts.processed;
        summary.failed += counts.failed;
        summary.duplicates += counts.duplicates;
        summary.retried += counts.retried;
        metrics.flush();
      } catch (error) {
        if (error instanceof StreamGroupMissingError) {
          // Redis lost the stream or group (restarted empty, flushed, key deleted under a blocked read):
          // recreate it; the reconciler republishes whatever had no outcome.
          groupReady = false;
          logger.warn('consumer group missing; recreating it', { error: errorMessage(error) });
          continue;
        }
        if (!(error instanceof DependencyUnavailableError)) throw error;
        // Redis or Postgres is away: whatever was read stays pending; try again after a pause.
        outageMs = Math.min(Math.max(outageMs * 2, 200), 5000);
        logger.warn('dependency unavailable; pausing the drain loop', { error: error.message, pause_ms: outageMs });
        await sleep(Math.min(outageMs, Math.max(0, budget.remainingMs() - budget.marginMs)));
      }
    }
    metrics.flush();
    return summary;
  }

  return { drain, handleBatch, claimDue };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
