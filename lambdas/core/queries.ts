// Read-side use cases for the API: one event's status, dependency health, backlog summary.
// Read-only: nothing here writes.
import { DependencyUnavailableError } from '../errors.ts';
import type { EventStream, SqlExecutor, StreamStats } from '../ports.ts';
import { streamIdTime } from '../stream-ids.ts';
import { findEventStatus } from './store.ts';

export interface EventStatus {
  readonly event_id: string;
  readonly event_type: string | null;
  readonly status: 'accepted' | 'processed' | 'failed';
  readonly received_at: string;
  readonly processed_at?: string;
  readonly failed_at?: string;
  readonly attempts?: number;
  readonly enriched_data?: unknown;
  readonly error?: { readonly type: string; readonly message: string };
  readonly replay?: { readonly count: number; readonly last_at: string | null };
}

/** The status of one event, or null when no event with that id was accepted (or it is still in the fallback queue). */
export async function getEventStatus(sql: SqlExecutor, eventId: string): Promise<EventStatus | null> {
  const row = await findEventStatus(sql, eventId);
  if (!row) return null;
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
    ...(row.replay_count ? { replay: { count: row.replay_count, last_at: row.replayed_at } } : {}),
  };
}

export interface DependencyHealth {
  /** `resuming`: Aurora Serverless v2 waking from auto-pause (~15 s); reads answer 503 meanwhile, writes go to the fallback queue. */
  readonly status: 'up' | 'down' | 'resuming';
  readonly latency_ms: number;
  readonly error?: string;
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

export interface BacklogSummary {
  readonly stream_length: number;
  readonly lag: number | null;
  readonly pending: number;
  readonly queue_depth: number;
  readonly oldest_pending_age_seconds: number | null;
  readonly consumers: number;
}

export function summarizeBacklog(stats: StreamStats, now: Date): BacklogSummary {
  return {
    stream_length: stats.length,
    lag: stats.lag,
    pending: stats.pending,
    queue_depth: (stats.lag ?? 0) + stats.pending,
    oldest_pending_age_seconds: stats.oldestPendingId
      ? Math.max(0, (now.getTime() - streamIdTime(stats.oldestPendingId)) / 1000)
      : null,
    consumers: stats.consumers,
  };
}
