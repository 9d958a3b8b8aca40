// The consumer's loop: claim due retries, else read new entries; hand each batch to batch.ts; run the
// periodic chores; pause as a whole while a dependency is away. Stops when the budget says so.
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyUnavailableError, errorMessage, StreamGroupMissingError } from '../../errors.ts';
import type { Metrics } from '../../observability/metric-names.ts';
import type { Clock, DeadLetterQueue, EventStream, IngestFallbackQueue, Logger, SqlExecutor } from '../../ports.ts';
import { newMaintenanceState, runMaintenance } from '../maintenance.ts';
import { createBatchHandler } from './batch.ts';
import { backoffMs, type Delivery, type DrainBudget, type DrainSettings, type DrainSummary } from './delivery.ts';
import { createOutageGuard } from './outage.ts';
import { createOutcomeWriter } from './write.ts';

export interface DrainDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly dlq?: DeadLetterQueue | undefined;
  readonly fallback?: IngestFallbackQueue | undefined;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Creates the drain loop bound to its dependencies; `handleBatch` and `claimDue` are exposed for tests. */
export function createDrainer(deps: DrainDeps, settings: DrainSettings) {
  const { stream, metrics, logger, clock } = deps;
  const handleBatch = createBatchHandler({ ...deps, writer: createOutcomeWriter(deps) }, settings);
  const outage = createOutageGuard(deps, settings.consumer);
  const maintenance = newMaintenanceState();
  let groupReady = false;

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

  /** Milliseconds until the first of this consumer's own pending entries falls due, or null if none. */
  async function nextOwnRetryMs(): Promise<number | null> {
    const own = await stream.pending({
      minIdleMs: 0,
      count: Math.max(500, settings.batchSize * 10),
      consumer: settings.consumer,
    });
    if (own.length === 0) return null;
    return Math.max(0, Math.min(...own.map((p) => backoffMs(p.deliveries, settings) - p.idleMs)));
  }

  async function readNew(budget: DrainBudget): Promise<{ batch: Delivery[]; blockMs: number }> {
    // Capped at the retry base so a retry waiting in the pending list is not held up by a long block.
    const blockMs =
      settings.mode === 'continuous'
        ? Math.max(0, Math.min(settings.blockMs, settings.retryBaseMs, budget.remainingMs() - budget.marginMs))
        : 0;
    const entries = await stream.readNew(settings.consumer, { count: settings.batchSize, ...(blockMs > 0 ? { blockMs } : {}) });
    return { batch: entries.map((entry) => ({ ...entry, deliveries: 1 })), blockMs };
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
      pauses: 0,
    };
    const stopping = () => budget.shouldStop?.() === true || budget.remainingMs() < budget.marginMs;
    const left = () => Math.max(0, budget.remainingMs() - budget.marginMs);
    let lastMaintenance = Number.NEGATIVE_INFINITY;
    let idlePollMs = 0;
    let inFlight: readonly Delivery[] = [];
    // Deliveries a previous invocation excused while Redis was away get their attempt back first.
    await outage.restore();
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
          // More stranded events than one run republishes: come back right after the next batch.
          if (done.moreToReconcile) lastMaintenance = Number.NEGATIVE_INFINITY;
        }
        let batch = await claimDue();
        if (batch.length === 0) {
          const asked = performance.now();
          const read = await readNew(budget);
          batch = read.batch;
          if (batch.length === 0) {
            if (settings.mode === 'scheduled') {
              // Serve this consumer's retries that fall due before the budget ends; else the tick is done.
              const dueInMs = await nextOwnRetryMs();
              if (dueInMs === null || dueInMs >= left()) break;
              await sleep(dueInMs + 10);
              continue;
            }
            // A stream that cannot block (Upstash REST) answers at once: poll with a growing pause.
            if (read.blockMs === 0 || performance.now() - asked < read.blockMs / 2) {
              idlePollMs = Math.min(Math.max(idlePollMs * 2, 50), 1000);
              await sleep(Math.min(idlePollMs, left()));
            }
            continue;
          }
        }
        idlePollMs = 0;
        inFlight = batch;
        const result = await handleBatch(batch);
        inFlight = [];
        summary.batches++;
        summary.processed += result.processed;
        summary.failed += result.failed;
        summary.duplicates += result.duplicates;
        summary.retried += result.retried;
        metrics.flush();
        if (result.paused) {
          outage.excuse(result.paused.deliveries);
          if (!(await pause(result.paused.error))) break;
        }
      } catch (error) {
        if (error instanceof StreamGroupMissingError) {
          // Redis lost the stream or group (restarted empty, flushed, key deleted under a blocked read):
          // recreate it; the reconciler republishes whatever had no outcome.
          groupReady = false;
          inFlight = [];
          logger.warn('consumer group missing; recreating it', { error: errorMessage(error) });
          continue;
        }
        if (!(error instanceof DependencyUnavailableError)) throw error;
        // Whatever this batch read stays pending; the outage must not cost it an attempt.
        outage.excuse(inFlight);
        inFlight = [];
        if (!(await pause(error))) break;
      }
    }
    metrics.flush();
    return summary;

    /** Pauses the drain until the dependency answers; false when the invocation should end instead. */
    async function pause(error: DependencyUnavailableError): Promise<boolean> {
      summary.pauses++;
      metrics.count('drainPaused', 1, { dependency: error.dependency });
      if (settings.mode === 'scheduled') {
        // A tick that finds a dependency down ends early; the next tick tries again.
        logger.warn('dependency unavailable; ending this scheduled drain early', {
          dependency: error.dependency,
          error: error.message,
        });
        await outage.restore();
        return false;
      }
      return outage.rideOut(error, left);
    }
  }

  return { drain, handleBatch, claimDue };
}
