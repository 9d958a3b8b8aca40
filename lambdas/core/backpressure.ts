// Backpressure producers can obey: while the consumer group is too far behind, ingest refuses new
// events with 429 and a Retry-After computed from the drain rate. Reads cached stream stats (one
// Redis call per TTL, shared by concurrent requests), never one per request; fails open.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, EventStream, Logger, StreamStats } from '../ports.ts';
import { streamIdTime } from '../shared/stream-ids.ts';

export interface BackpressureSettings {
  /** Refuse while more entries than this wait undelivered (0: never). */
  readonly maxLag: number;
  /** Refuse while the oldest unacknowledged entry is older than this (0: never). */
  readonly maxAgeMs: number;
  /** How long one stats read is reused. */
  readonly statsTtlMs: number;
}

export interface Throttle {
  /** Whole seconds a producer should wait (1–300). */
  readonly retryAfterSeconds: number;
  /** Which limit was passed, for the error body and the metric label. */
  readonly reason: 'lag' | 'age';
  readonly message: string;
}

/** How long a request waits for a stats refresh before it is judged on the last sample. */
const REFRESH_WAIT_MS = 50;

/** What a Retry-After says when the drain rate is unknown (no second sample yet, or nothing drained). */
export const RETRY_AFTER_UNKNOWN_RATE_S = 5;
const RETRY_AFTER_MAX_S = 300;

interface Sample {
  readonly at: number;
  readonly stats: StreamStats;
}

/**
 * Entries per second the group drained between two samples: what left the backlog plus what arrived.
 * A trim between the samples hides arrivals, which only makes the rate lower and the wait longer.
 */
export function drainRate(before: Sample, after: Sample): number | null {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0 || before.stats.lag === null || after.stats.lag === null) return null;
  const backlog = (s: StreamStats) => (s.lag ?? 0) + s.pending;
  const arrived = Math.max(0, after.stats.length - before.stats.length);
  const drained = backlog(before.stats) + arrived - backlog(after.stats);
  return drained > 0 ? drained / seconds : null;
}

/** The 429 to give, if any, for these stats. Pure. */
export function throttleFor(
  stats: StreamStats,
  now: number,
  rate: number | null,
  settings: Pick<BackpressureSettings, 'maxLag' | 'maxAgeMs'>,
): Throttle | null {
  const wait = (excess: number) =>
    Math.min(RETRY_AFTER_MAX_S, Math.max(1, rate ? Math.ceil(excess / rate) : RETRY_AFTER_UNKNOWN_RATE_S));
  const lag = stats.lag ?? 0;
  if (settings.maxLag > 0 && lag > settings.maxLag) {
    return {
      reason: 'lag',
      retryAfterSeconds: wait(lag - settings.maxLag),
      message: `${lag} events are waiting for the consumer (limit ${settings.maxLag}); retry later`,
    };
  }
  const ageMs = stats.oldestPendingId ? now - streamIdTime(stats.oldestPendingId) : 0;
  if (settings.maxAgeMs > 0 && ageMs > settings.maxAgeMs) {
    const backlog = lag + stats.pending;
    return {
      reason: 'age',
      // The oldest entry is stuck rather than the backlog long: wait for a share of it to drain.
      retryAfterSeconds: wait(Math.max(1, backlog / 2)),
      message: `the oldest pending event has waited ${Math.round(ageMs / 1000)} s (limit ${Math.round(settings.maxAgeMs / 1000)} s); retry later`,
    };
  }
  return null;
}

export function createBackpressure(deps: { stream: EventStream; clock: Clock; logger: Logger }, settings: BackpressureSettings) {
  let latest: Sample | null = null;
  let previous: Sample | null = null;
  let refreshing: Promise<void> | null = null;
  let readAt = Number.NEGATIVE_INFINITY;
  // Where Redis cannot tell the lag it is counted: far enough to compare with the limit, no further.
  const lagCountLimit = settings.maxLag > 0 ? { lagCountLimit: settings.maxLag + 1 } : {};

  async function refresh(): Promise<void> {
    readAt = deps.clock.now().getTime();
    try {
      const sample = { at: deps.clock.now().getTime(), stats: await deps.stream.stats(lagCountLimit) };
      previous = latest;
      latest = sample;
    } catch (error) {
      // Fail open: ingest's own write path reports a real outage; stale or missing stats never block it.
      deps.logger.debug('backpressure stats unavailable', { error: String(error) });
      latest = null;
    }
  }

  /** The 429 to answer now, or null to go on. At most one stats read per TTL, whatever the concurrency. */
  async function check(): Promise<Throttle | null> {
    if (settings.maxLag === 0 && settings.maxAgeMs === 0) return null;
    const now = deps.clock.now().getTime();
    if (!refreshing && now - readAt >= settings.statsTtlMs) {
      refreshing = refresh().finally(() => {
        refreshing = null;
      });
    }
    // The first read waits; later ones wait at most REFRESH_WAIT_MS for a fresh sample, then serve the
    // last one while the refresh goes on, so a slow or hung stats call never holds up ingest.
    if (refreshing) await (latest ? Promise.race([refreshing, sleep(REFRESH_WAIT_MS)]) : refreshing);
    if (!latest) return null;
    const rate = previous ? drainRate(previous, latest) : null;
    return throttleFor(latest.stats, now, rate, settings);
  }

  return { check };
}

export type Backpressure = ReturnType<typeof createBackpressure>;
