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
  /**
   * Before this instant (performance.now()) no pending entry can be due that the last XPENDING did
   * not show, so claimDue need not ask: an entry not listed had been idle less than the retry base,
   * and none waits less than that. Entries listed and not yet due bring it forward. Asking at least
   * once per retry base also finds what other (crashed) consumers left behind, at most one base late.
   */
  let nextPendingCheckAt = 0;
  /** Whether the last claimDue asked Redis (false: it skipped XPENDING). */
  let askedPending = false;
  /** Ask XPENDING on the next claimDue (entries handed back, retries noted, a new invocation). */
  const checkPendingSoon = (at = 0) => {
    nextPendingCheckAt = Math.min(nextPendingCheckAt, at);
  };

  /** Entries whose backoff has elapsed (failed attempts, crashed consumers), claimed for us. */
  async function claimDue(): Promise<Delivery[]> {
    const asked = performance.now();
    askedPending = asked >= nextPendingCheckAt;
    if (!askedPending) return [];
    // Oldest first: a wide window, so entries still waiting out a long backoff do not hide due ones.
    const window = Math.max(500, settings.batchSize * 10);
    const candidates = await stream.pending({ minIdleMs: settings.retryBaseMs, count: window });
    const dueAll = candidates.filter((p) => p.idleMs >= backoffMs(p.deliveries, settings));
    let next = asked + settings.retryBaseMs;
    for (const p of candidates) {
      const inMs = backoffMs(p.deliveries, settings) - p.idleMs;
      if (inMs > 0) next = Math.min(next, asked + inMs);
    }
    // More may be due than this look saw (a full window) or takes (a full batch): look again next time.
    nextPendingCheckAt = candidates.length >= window || dueAll.length > settings.batchSize ? asked : next;
    const due = dueAll.slice(0, settings.batchSize);
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

  async function readNew(budget: DrainBudget, ack: readonly string[]): Promise<{ batch: Delivery[]; blockMs: number }> {
    // Capped at the retry base so a retry waiting in the pending list is not held up by a long block.
    const blockMs =
      settings.mode === 'continuous'
        ? Math.max(0, Math.min(settings.blockMs, settings.retryBaseMs, budget.remainingMs() - budget.marginMs))
        : 0;
    const entries = await stream.readNew(settings.consumer, {
      count: settings.batchSize,
      ...(blockMs > 0 ? { blockMs } : {}),
      ...(ack.length > 0 ? { ack } : {}),
    });
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
    /** Committed outcomes not acknowledged yet: they travel with the next read (one round trip less). */
    let unacked: string[] = [];
    // Deliveries a previous invocation excused while Redis was away get their attempt back first.
    await outage.restore();
    checkPendingSoon();
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
        const taken = performance.now();
        let batch = await claimDue();
        if (batch.length > 0) await flushAcks();
        else {
          const asked = performance.now();
          const read = await readNew(budget, unacked);
          unacked = [];
          batch = read.batch;
          if (batch.length === 0) {
            if (settings.mode === 'scheduled') {
              // Nothing new: before the tick ends, make sure nothing is due that a skipped XPENDING hid.
              if (!askedPending) {
                checkPendingSoon();
                continue;
              }
              // Serve this consumer's retries that fall due before the budget ends; else the tick is done.
              const dueInMs = await nextOwnRetryMs();
              if (dueInMs === null || dueInMs >= left()) break;
              await sleep(dueInMs + 10);
              checkPendingSoon();
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
        const result = await handleBatch(batch, { deferAck: true });
        inFlight = [];
        unacked.push(...result.unacked);
        // A retry left pending falls due one backoff (at least the base) after it was taken.
        if (result.retried > 0) checkPendingSoon(taken + settings.retryBaseMs);
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
          unacked = [];
          logger.warn('consumer group missing; recreating it', { error: errorMessage(error) });
          continue;
        }
        if (!(error instanceof DependencyUnavailableError)) {
          await flushAcks();
          throw error;
        }
        // Whatever this batch read stays pending; the outage must not cost it an attempt. Acks not
        // sent yet are sent with the next read.
        outage.excuse(inFlight);
        inFlight = [];
        if (!(await pause(error))) break;
      }
    }
    await flushAcks();
    metrics.flush();
    return summary;

    /** Sends acknowledgements still held; one that cannot be sent leaves a duplicate for later, never a loss. */
    async function flushAcks(): Promise<void> {
      if (unacked.length === 0) return;
      const ids = unacked;
      unacked = [];
      try {
        await stream.ack(ids);
      } catch (error) {
        // Still pending: reclaimed after the backoff, they find their outcome claimed and are acked then.
        logger.warn('could not acknowledge entries that have an outcome', { count: ids.length, error: errorMessage(error) });
      }
    }

    /** Pauses the drain until the dependency answers; false when the invocation should end instead. */
    async function pause(error: DependencyUnavailableError): Promise<boolean> {
      // Committed outcomes are acknowledged now, not after the outage: held for its length, they would
      // look abandoned and be claimed again by other consumers (harmless duplicates, wasted work).
      await flushAcks();
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
      // Ctrl-C / SIGTERM ends the pause too: there is no batch in flight to finish.
      const resumed = await outage.rideOut(error, () => (budget.shouldStop?.() === true ? 0 : left()));
      // Ending before the dependency came back: hand the attempts back before this invocation ends.
      if (!resumed) await outage.restore();
      // The excused deliveries were handed back due at once.
      checkPendingSoon();
      return resumed;
    }
  }

  return { drain, handleBatch, claimDue };
}
