// One batch through the consumer's steps: decide (validate, enrich) → write outcomes → acknowledge
// what has one (or hand the ids to the loop, which acks with its next read) → metrics. Never
// acknowledges an entry before its outcome is committed.
import type { DependencyUnavailableError } from '../../errors.ts';
import type { Metrics } from '../../observability/metric-names.ts';
import type { Clock, ErrorRecord, EventStream, Logger } from '../../ports.ts';
import { streamIdTime } from '../../shared/stream-ids.ts';
import { type Decision, decide, decideBatch } from './decide.ts';
import type { BatchCounts, Delivery, DrainSettings } from './delivery.ts';
import { RULE_VIOLATION } from './error-types.ts';
import type { OutcomeWriter } from './write.ts';

export interface BatchDeps {
  readonly stream: EventStream;
  readonly writer: OutcomeWriter;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface BatchResult extends BatchCounts {
  /** Set when a dependency was unavailable: these deliveries are left pending and cost no attempt. */
  readonly paused: { readonly error: DependencyUnavailableError; readonly deliveries: Delivery[] } | null;
  /** Entry ids whose outcome is committed and that the caller must acknowledge (only with `deferAck`). */
  readonly unacked: string[];
}

export interface BatchOptions {
  /**
   * Leave the acknowledgements to the caller (returned as `unacked`), which sends them in the same
   * round trip as its next read. Off: acknowledged before handleBatch returns.
   */
  readonly deferAck?: boolean;
}

type Item<K extends Decision['kind']> = { readonly delivery: Delivery } & Extract<Decision, { kind: K }>;

export function createBatchHandler(deps: BatchDeps, settings: DrainSettings) {
  const { stream, writer, metrics, logger, clock } = deps;

  return async function handleBatch(deliveries: readonly Delivery[], options: BatchOptions = {}): Promise<BatchResult> {
    const started = performance.now();
    const exhausted = deliveries.filter((d) => d.deliveries > settings.maxAttempts).map((d) => d.id);
    const notes = exhausted.length > 0 ? await stream.readErrors(exhausted) : new Map<string, ErrorRecord>();
    const context = { now: clock.now(), settings };
    const first = decideBatch(deliveries, { ...context, notes });

    // Final decisions by delivery; process and dead-letter ones are settled by their writes below.
    const final = new Map<Delivery, Decision>();
    const toProcess: Item<'process'>[] = [];
    let toDeadLetter: Item<'deadLetter'>[] = [];
    deliveries.forEach((delivery, i) => {
      const decision = first[i] as Decision;
      if (decision.kind === 'process') toProcess.push({ delivery, ...decision });
      else if (decision.kind === 'deadLetter') toDeadLetter.push({ delivery, ...decision });
      else final.set(delivery, decision);
    });

    const processed = await writer.writeProcessed(toProcess);
    const redecide = (delivery: Delivery, error: unknown, wrote: 'process' | 'deadLetter') =>
      decide(delivery, { ...context, seen: new Set(), writeFailure: { error, wrote } });
    let outage: DependencyUnavailableError | null = null;
    for (const item of toProcess) {
      const error = processed.failed.get(item);
      if (error === undefined) {
        final.set(
          item.delivery,
          processed.written.has(item.row.event_id) ? item : { kind: 'duplicate', eventType: item.eventType },
        );
        continue;
      }
      const next = redecide(item.delivery, error, 'process');
      if (next.kind === 'deadLetter') toDeadLetter.push({ delivery: item.delivery, ...next });
      else final.set(item.delivery, next);
      if (next.kind === 'pause') outage ??= next.error;
    }
    if (outage) {
      // The database is away: the dead letters would fail the same way. Leave them for after the pause.
      for (const item of toDeadLetter) final.set(item.delivery, { kind: 'pause', eventType: item.eventType, error: outage });
      toDeadLetter = [];
    }

    const dead = await writer.writeDeadLetters(toDeadLetter);
    const notified: Array<{ row: Item<'deadLetter'>['row']; failedAt: string | undefined }> = [];
    for (const item of toDeadLetter) {
      const error = dead.failed.get(item);
      if (error !== undefined) {
        const next = redecide(item.delivery, error, 'deadLetter');
        final.set(item.delivery, next);
        if (next.kind === 'pause') outage ??= next.error;
        continue;
      }
      const failedAt = dead.failedAt.get(item.row.event_id);
      const written = failedAt !== undefined || dead.refused.has(item);
      final.set(item.delivery, written ? item : { kind: 'duplicate', eventType: item.eventType });
      if (written) notified.push({ row: item.row, failedAt });
    }
    await writer.notifyDeadLetters(notified);
    return settle(deliveries, final, outage, started, options.deferAck === true);
  };

  /** Acknowledges what has an outcome, notes retries, counts everything. */
  async function settle(
    deliveries: readonly Delivery[],
    final: ReadonlyMap<Delivery, Decision>,
    outage: DependencyUnavailableError | null,
    started: number,
    deferAck: boolean,
  ): Promise<BatchResult> {
    const counts: BatchCounts = { processed: 0, failed: 0, duplicates: 0, retried: 0 };
    const ack: Delivery[] = [];
    const retries: Array<{ id: string; error: ErrorRecord }> = [];
    const paused: Delivery[] = [];
    for (const delivery of deliveries) {
      const decision = final.get(delivery);
      if (!decision) continue;
      switch (decision.kind) {
        case 'process':
          counts.processed++;
          metrics.count('eventsProcessed', 1, { event_type: decision.eventType });
          ack.push(delivery);
          break;
        case 'deadLetter': {
          counts.failed++;
          const labels = { event_type: decision.eventType, error_type: decision.row.error_type };
          metrics.count('eventsFailed', 1, labels);
          // The producer's data versus everything else: only the second should page anyone.
          if (decision.row.error_type === RULE_VIOLATION)
            metrics.count('deadLettersRuleViolation', 1, { event_type: decision.eventType });
          else metrics.count('deadLettersInfrastructure', 1, labels);
          ack.push(delivery);
          break;
        }
        case 'duplicate':
          counts.duplicates++;
          metrics.count('eventsDuplicate', 1, { event_type: decision.eventType });
          ack.push(delivery);
          break;
        case 'retry':
          counts.retried++;
          metrics.count('eventsRetried', 1, { error_type: decision.error.type });
          retries.push({ id: delivery.id, error: decision.error });
          break;
        case 'pause':
          paused.push(delivery);
          break;
      }
    }
    if (retries.length > 0) {
      logger.warn('entries left pending for retry', { count: retries.length, error: retries[0]?.error });
      await writer.noteRetries(retries);
    }
    if (ack.length > 0) {
      if (!deferAck) await stream.ack(ack.map((d) => d.id));
      await writer.forgetRetries(ack.filter((d) => d.deliveries > 1).map((d) => d.id));
    }
    const seconds = (performance.now() - started) / 1000;
    const nowMs = clock.now().getTime();
    for (const delivery of ack) {
      metrics.observe('processingDuration', seconds, { event_type: final.get(delivery)?.eventType ?? 'unknown' });
      metrics.observe('queueWait', Math.max(0, (nowMs - streamIdTime(delivery.id)) / 1000));
    }
    return {
      ...counts,
      paused: outage && paused.length > 0 ? { error: outage, deliveries: paused } : null,
      unacked: deferAck ? ack.map((d) => d.id) : [],
    };
  }
}

export type BatchHandler = ReturnType<typeof createBatchHandler>;
