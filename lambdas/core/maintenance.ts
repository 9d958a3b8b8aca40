// The consumer's periodic chores: drain the ingest fallback queue, republish raw events that never
// reached the stream (outbox reconciler), trim acknowledged entries, report backlog gauges.
import { type AcceptedEvent, parseStreamedEvent } from '../../schemas/event.ts';
import type { Metrics } from '../observability/metric-names.ts';
import type { Clock, EventStream, IngestFallbackQueue, Logger, SqlExecutor, StreamStats } from '../ports.ts';
import { compareStreamIds, streamIdTime as idTime } from '../shared/stream-ids.ts';
import { writeIsolating } from './isolate.ts';
import { claimUnresolved, findRawEvents, insertRawEvents, markRepublished, RECONCILE_CLAIM_ROWS, readPayloads } from './store.ts';

export interface MaintenanceDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly fallback?: IngestFallbackQueue | undefined;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export interface MaintenanceSettings {
  /** This consumer (never pruned by itself). */
  readonly consumer: string;
  readonly batchSize: number;
  readonly reconcileGraceMs: number;
  /**
   * With no stream activity, reconcile only this often: the reconciler is the consumer's only SQL
   * at rest, and Aurora Serverless v2 can pause only when nothing queries it.
   */
  readonly reconcileIdleIntervalMs: number;
}

/** A consumer idle this long with nothing pending is gone (Lambda containers live minutes to hours). */
export const CONSUMER_RETIREMENT_MS = 6 * 60 * 60 * 1000;

/** Longest one maintenance run spends republishing before the drain gets its turn again. */
export const RECONCILE_SLICE_MS = 2000;

/** What one consumer remembers between maintenance runs (per process / Lambda container). */
export interface MaintenanceState {
  lastActivityAt: number;
  lastDeliveredId: string | null;
  /** The last stats call failed (the stream was unreachable). */
  streamWasDown: boolean;
}

export const newMaintenanceState = (): MaintenanceState => ({
  lastActivityAt: Number.NEGATIVE_INFINITY,
  lastDeliveredId: null,
  streamWasDown: false,
});

/**
 * Reconcile after recent activity (events moving, or the stream having been unreachable: the moments
 * raw events get stranded) for two grace periods, so stranded events are found once their grace is
 * over. Otherwise the stack is idle, and only one consumer of the whole fleet reconciles per idle
 * interval (a turn kept in Redis): an idle stack makes no other SQL call, so Aurora can pause.
 */
export function recentlyActive(
  state: MaintenanceState,
  now: number,
  settings: Pick<MaintenanceSettings, 'reconcileGraceMs'>,
): boolean {
  return now - state.lastActivityAt <= 2 * settings.reconcileGraceMs;
}

/**
 * Raw events received before this instant with no outcome have no live stream entry: every entry
 * still unacknowledged is younger (pending ones since the oldest pending id; undelivered ones since
 * the last-delivered id). `grace` absorbs clock skew and the insert→XADD gap of a running ingest.
 */
export function reconcileCutoff(stats: StreamStats, now: Date, graceMs: number): Date {
  let oldestUnacked = now.getTime();
  if (stats.oldestPendingId) oldestUnacked = Math.min(oldestUnacked, idTime(stats.oldestPendingId));
  if (stats.lag === null || stats.lag > 0) oldestUnacked = Math.min(oldestUnacked, idTime(stats.lastDeliveredId));
  return new Date(oldestUnacked - graceMs);
}

/**
 * Where trimming may cut: entries before the oldest pending one and at or before the last
 * delivered one are acknowledged. Null when nothing may go.
 */
export function trimThreshold(stats: StreamStats): string | null {
  if (stats.lastDeliveredId === '0-0') return null;
  if (!stats.oldestPendingId) return stats.lastDeliveredId;
  return compareStreamIds(stats.oldestPendingId, stats.lastDeliveredId) < 0 ? stats.oldestPendingId : stats.lastDeliveredId;
}

/** Publishes events whose raw row exists; returns how many were added. */
async function publishStored(stream: EventStream, events: readonly AcceptedEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  await stream.add(events.map((event) => JSON.stringify(event)));
  return events.length;
}

/** Moves events from the SQS fallback queue into raw_events and the stream. */
export async function drainFallbackQueue(deps: MaintenanceDeps, maxMessages: number): Promise<number> {
  const { fallback, sql, stream, logger, clock } = deps;
  if (!fallback) return 0;
  let moved = 0;
  while (moved < maxMessages) {
    const messages = await fallback.receive({ max: 10 });
    if (messages.length === 0) break;
    const received: Array<{ event: AcceptedEvent; handle: string }> = [];
    for (const message of messages) {
      const event = parseStreamedEvent(message.body);
      if (!event) {
        // Only our ingest writes here; a bad body is left for the queue's own redrive policy.
        logger.error('unreadable message in the ingest fallback queue', { body: message.body.slice(0, 500) });
        continue;
      }
      received.push({ event, handle: message.receiptHandle });
    }
    const publishedAt = clock.now();
    const isolated = await writeIsolating(received, async (batch) => [
      ...(await insertRawEvents(
        sql,
        batch.map((item) => item.event),
        publishedAt,
      )),
    ]);
    const inserted = new Set(isolated.results);
    const refused = [...isolated.refused.keys()];
    for (const { event } of refused) {
      // Left in the queue: after maxReceiveCount SQS moves it to the queue's own dead-letter queue.
      logger.error('the database refused a fallback event; left for the queue redrive policy', { event_id: event.event_id });
    }
    const events = received.filter((item) => !refused.includes(item)).map((item) => item.event);
    const handles = received.filter((item) => !refused.includes(item)).map((item) => item.handle);
    const repeats = events.filter((event) => !inserted.has(event.event_id)).map((event) => event.event_id);
    const stored = await findRawEvents(sql, repeats);
    // New rows and stored rows still without an outcome (an API's "publish me" hint after its XADD failed).
    const open = events.filter((event) => inserted.has(event.event_id) || stored.get(event.event_id)?.outcome === null);
    try {
      await publishStored(stream, open);
      await markRepublished(
        sql,
        open.filter((event) => !inserted.has(event.event_id)).map((event) => event.event_id),
      );
    } catch (error) {
      logger.warn('fallback events stored but not published; the reconciler will', { error: String(error) });
    }
    await fallback.delete(handles);
    moved += events.length;
  }
  return moved;
}

export interface MaintenanceResult {
  readonly republished: number;
  readonly fromFallback: number;
  readonly stats: StreamStats | null;
  /** The reconciler stopped at its time slice with stranded events left. */
  readonly moreToReconcile: boolean;
}

/** Runs every chore; a failing chore is logged and does not stop the others or the drain. */
export async function runMaintenance(
  deps: MaintenanceDeps,
  settings: MaintenanceSettings,
  state: MaintenanceState = newMaintenanceState(),
): Promise<MaintenanceResult> {
  const { sql, stream, metrics, logger, clock } = deps;
  let fromFallback = 0;
  let republished = 0;
  let stats: StreamStats | null = null;
  let moreToReconcile = false;
  try {
    fromFallback = await drainFallbackQueue(deps, settings.batchSize * 10);
  } catch (error) {
    logger.warn('fallback queue drain failed', { error: String(error) });
  }
  const started = clock.now().getTime();
  if (fromFallback > 0) state.lastActivityAt = started;
  try {
    try {
      stats = await stream.stats();
    } catch (error) {
      state.streamWasDown = true;
      throw error;
    }
    // Back from an outage (when events get stranded), or events moving: reconcile for a while. A new
    // container's first look is only a baseline: starting up is not activity (it would wake Aurora).
    const moved = state.lastDeliveredId !== null && stats.lastDeliveredId !== state.lastDeliveredId;
    if (state.streamWasDown || moved || stats.pending > 0 || (stats.lag ?? 1) > 0) {
      state.lastActivityAt = started;
      state.streamWasDown = false;
    }
    state.lastDeliveredId = stats.lastDeliveredId;
    // Taking the turn while active too: a reconcile is running now, so the fleet's idle one can wait.
    const turn = await stream.takeTurn('reconcile', settings.reconcileIdleIntervalMs);
    if (recentlyActive(state, started, settings) || turn) {
      const cutoff = reconcileCutoff(stats, clock.now(), settings.reconcileGraceMs);
      // Pages until none is left or the slice is spent, so recovery keeps pace with the backlog
      // (a lost Redis) without starving the drain loop; `moreToReconcile` brings the next run forward.
      for (;;) {
        const stranded = await claimUnresolved(sql, { cutoff, limit: RECONCILE_CLAIM_ROWS });
        republished += await publishStored(stream, await readPayloads(sql, stranded));
        if (stranded.length < RECONCILE_CLAIM_ROWS) break;
        if (clock.now().getTime() - started >= RECONCILE_SLICE_MS) {
          moreToReconcile = true;
          break;
        }
      }
      if (republished > 0) state.lastActivityAt = started;
    }
    if (republished > 0) {
      metrics.count('eventsRepublished', republished);
      logger.info('republished raw events that had no stream entry', { count: republished });
    }
    const threshold = trimThreshold(stats);
    if (threshold) await stream.trimBefore(threshold);
    // Every process or Lambda container joins the group under its own name; forget the long gone.
    await stream.pruneConsumers({ idleMs: CONSUMER_RETIREMENT_MS, keep: settings.consumer });
    const now = clock.now().getTime();
    metrics.gauge('queueDepth', (stats.lag ?? 0) + stats.pending);
    metrics.gauge('queueLag', stats.lag ?? 0);
    metrics.gauge('queuePending', stats.pending);
    metrics.gauge('streamLength', stats.length);
    metrics.gauge('oldestPendingAge', stats.oldestPendingId ? Math.max(0, (now - idTime(stats.oldestPendingId)) / 1000) : 0);
  } catch (error) {
    logger.warn('reconcile/trim failed', { error: String(error) });
  }
  return { republished, fromFallback, stats, moreToReconcile };
}
