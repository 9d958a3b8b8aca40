// Read-side use cases for the API: one event's status, dependency health, backlog summary.
// Read-only: nothing here writes.
import { DependencyUnavailableError, StreamGroupMissingError } from '../errors.ts';
import type { ConsumerInfo, EventStream, SqlExecutor, StreamStats } from '../ports.ts';
import { streamIdTime } from '../shared/stream-ids.ts';
import { findEventStatus } from './store.ts';

export interface EventStatus {
  readonly event_id: string;
  readonly event_type: string | null;
  readonly status: 'accepted' | 'processed' | 'failed';
  readonly received_at: string;
  readonly processed_at?: string | undefined;
  readonly failed_at?: string | undefined;
  readonly attempts?: number | undefined;
  readonly enriched_data?: unknown;
  readonly error?: { readonly type: string; readonly message: string } | undefined;
  readonly replay?: { readonly count: number; readonly last_at: string | null } | undefined;
}

/**
 * The status of one event, or null when no event with that id was accepted (or it is still in the
 * fallback queue), or when `producer` is given and the event is another producer's. An event recorded
 * without a producer (before 002_producers, or with no identity) is anyone's, as it was then.
 */
export async function getEventStatus(
  sql: SqlExecutor,
  eventId: string,
  options: { readonly producer?: string | null } = {},
): Promise<EventStatus | null> {
  const row = await findEventStatus(sql, eventId);
  if (!row) return null;
  if (options.producer && row.producer !== null && row.producer !== options.producer) return null;
  const status = row.outcome ?? 'accepted';
  return {
    event_id: row.event_id,
    event_type: row.event_type,
    status,
    received_at: row.received_at,
    ...(row.processed_at && status === 'processed' ? { processed_at: row.processed_at, enriched_data: row.enriched_data } : {}),
    ...(row.failed_at && status === 'failed' ? { failed_at: row.failed_at } : {}),
    ...(row.attempts !== null && status !== 'accepted' ? { attempts: row.attempts } : {}),
    ...(row.error_type && status === 'failed' ? { error: { type: row.error_type, message: row.error_message ?? '' } } : {}),
    // A replay that failed again clears replayed_at (it marks the dead letter as replayable again); the
    // reopen stamped the raw row's republished_at at the same instant, so that is the replay time.
    ...(row.replay_count ? { replay: { count: row.replay_count, last_at: row.replayed_at ?? row.republished_at } } : {}),
  };
}

export interface DependencyHealth {
  /** `resuming`: Aurora Serverless v2 waking from auto-pause (~15 s); reads answer 503 meanwhile, writes go to the fallback queue. */
  readonly status: 'up' | 'down' | 'resuming';
  readonly latency_ms: number;
  readonly error?: string | undefined;
}

export interface Health {
  readonly status: 'ok' | 'degraded';
  readonly dependencies: { readonly database: DependencyHealth; readonly stream: DependencyHealth };
}

async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<DependencyHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'up', latency_ms: Math.round(performance.now() - started) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      status: error instanceof DependencyUnavailableError && error.resuming ? 'resuming' : 'down',
      latency_ms: Math.round(performance.now() - started),
      error: message,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Checks both dependencies in parallel; `degraded` when either is down. */
export async function checkHealth(deps: { sql: SqlExecutor; stream: EventStream }, timeoutMs = 2000): Promise<Health> {
  const [database, stream] = await Promise.all([
    probe(() => deps.sql.query('SELECT 1 AS ok'), timeoutMs),
    probe(() => deps.stream.ping(), timeoutMs),
  ]);
  // A resuming database is not an outage: writes still succeed (SQS fallback), so the service is up.
  const healthy = database.status !== 'down' && stream.status === 'up';
  return { status: healthy ? 'ok' : 'degraded', dependencies: { database, stream } };
}

/**
 * A consumer that read or claimed within this long is counted live. The scheduled consumer reads at
 * least once per one-minute tick and the continuous one every BLOCK_MS, so two ticks without a read
 * means the process or container is gone (the group keeps its name until maintenance prunes it).
 */
export const LIVE_CONSUMER_IDLE_MS = 120_000;

export interface BacklogSummary {
  readonly stream_length: number;
  /** Entries never delivered to the group; with no group yet, every entry in the stream. */
  readonly lag: number | null;
  readonly pending: number;
  readonly queue_depth: number;
  readonly oldest_pending_age_seconds: number | null;
  /** Consumers that read or claimed within LIVE_CONSUMER_IDLE_MS. */
  readonly consumers_live: number;
  /** Consumers the group knows, dead ones included until maintenance prunes them. */
  readonly consumers_total: number;
  /** False before the first consumer created it, or after Redis lost its data: the first read recreates it. */
  readonly group_exists: boolean;
  /** The original service's fields, same meanings: XLEN of the stream (acknowledged entries too, until trimmed). */
  readonly queue_length: number;
  /** The original's XPENDING count of the group: delivered, not yet acknowledged. */
  readonly pending_messages: number;
  /** When this was read (ISO 8601, UTC). */
  readonly timestamp: string;
}

export function summarizeBacklog(stats: StreamStats, consumers: readonly ConsumerInfo[], now: Date): BacklogSummary {
  return {
    stream_length: stats.length,
    lag: stats.lag,
    pending: stats.pending,
    queue_depth: (stats.lag ?? 0) + stats.pending,
    oldest_pending_age_seconds: stats.oldestPendingId
      ? Math.max(0, (now.getTime() - streamIdTime(stats.oldestPendingId)) / 1000)
      : null,
    consumers_live: consumers.filter((consumer) => consumer.idleMs < LIVE_CONSUMER_IDLE_MS).length,
    consumers_total: consumers.length,
    group_exists: true,
    queue_length: stats.length,
    pending_messages: stats.pending,
    timestamp: now.toISOString(),
  };
}

/**
 * The backlog as far as Redis can tell. Without a consumer group (a fresh deploy before the first
 * consumer run, or Redis lost its data) only the stream length is known: every entry will be
 * delivered once a consumer recreates the group, so it all counts as lag.
 */
export async function readBacklog(stream: EventStream, now: Date): Promise<BacklogSummary> {
  try {
    const [stats, consumers] = await Promise.all([stream.stats(), stream.consumers()]);
    return summarizeBacklog(stats, consumers, now);
  } catch (error) {
    if (!(error instanceof StreamGroupMissingError)) throw error;
  }
  const length = await stream.length();
  return {
    stream_length: length,
    lag: length,
    pending: 0,
    queue_depth: length,
    oldest_pending_age_seconds: null,
    consumers_live: 0,
    consumers_total: 0,
    group_exists: false,
    queue_length: length,
    pending_messages: 0,
    timestamp: now.toISOString(),
  };
}
