// What the drain works on: a stream entry with its delivery count, the drain's settings, and the
// retry backoff. Pure types and arithmetic; no I/O.
import { createHash } from 'node:crypto';
import type { StreamEntry } from '../../ports.ts';

/** A stream entry as this consumer received it. */
export interface Delivery extends StreamEntry {
  /** Counted attempts so far including this one (1 on the first read; outages are not counted). */
  readonly deliveries: number;
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
  /** Times the drain stopped taking work because a dependency was unavailable. */
  pauses: number;
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
