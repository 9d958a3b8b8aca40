// Replaying dead letters: reopen the chosen failed events and put them back on the stream, so a
// replay that now passes ends processed exactly once (its failed_events row is then removed).
import { parseStreamedEvent } from '../../schemas/event.ts';
import { type EventStream, type Logger, type SqlExecutor, sqlJson } from '../ports.ts';
import { UNPARSABLE_ENTRY } from './drain/error-types.ts';
import { PAYLOAD_ROWS_PER_QUERY } from './store.ts';

export interface RedriveRequest {
  readonly eventIds?: readonly string[] | undefined;
  readonly errorType?: string | undefined;
  /** At most this many events (oldest failures first). */
  readonly limit: number;
  readonly dryRun: boolean;
}

export interface RedriveResult {
  readonly dry_run: boolean;
  /** Events reopened and re-published (or, in a dry run, that would be). */
  readonly event_ids: string[];
  readonly candidates?: FailedEventRow[] | undefined;
  /** Reopened but not published now (stream down): the reconciler publishes them after its grace. */
  readonly publish_deferred: number;
}

export async function redriveFailed(
  deps: { sql: SqlExecutor; stream: EventStream; logger: Logger },
  request: RedriveRequest,
): Promise<RedriveResult> {
  const filter: RedriveFilter = {
    eventIds: request.eventIds,
    errorType: request.errorType,
    failedBefore: await databaseNow(deps.sql),
    limit: request.limit,
  };
  if (request.dryRun) {
    const candidates = await listFailed(deps.sql, filter);
    return { dry_run: true, event_ids: candidates.map((row) => row.event_id), candidates, publish_deferred: 0 };
  }
  const eventIds: string[] = [];
  let deferred = 0;
  while (eventIds.length < request.limit) {
    const page = await reopenFailed(deps.sql, {
      ...filter,
      limit: Math.min(PAYLOAD_ROWS_PER_QUERY, request.limit - eventIds.length),
    });
    eventIds.push(...page.map((row) => row.event_id));
    const events = page.map((row) => parseStreamedEvent(JSON.stringify(row.payload))).filter((event) => event !== null);
    try {
      await deps.stream.add(events.map((event) => JSON.stringify(event)));
    } catch (error) {
      deferred += events.length;
      deps.logger.warn('redriven events reopened but not published; the reconciler will publish them', { error: String(error) });
    }
    if (page.length < PAYLOAD_ROWS_PER_QUERY) break;
  }
  return { dry_run: false, event_ids: eventIds, publish_deferred: deferred };
}

// The statements redrive runs.

export interface RedriveFilter {
  readonly eventIds?: readonly string[] | undefined;
  readonly errorType?: string | undefined;
  /** Only dead letters written before this instant: a replay that fails again is not replayed twice in one run. */
  readonly failedBefore?: string;
  readonly limit: number;
}

const FILTER = `(:ids::jsonb IS NULL OR f.event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid))
  AND (:error_type::text IS NULL OR f.error_type = :error_type::text)
  AND (:failed_before::timestamptz IS NULL OR f.failed_at < :failed_before::timestamptz)
  AND f.replayed_at IS NULL
  AND f.error_type <> '${UNPARSABLE_ENTRY}'`;

function filterParams(filter: RedriveFilter) {
  return {
    ids: filter.eventIds ? sqlJson(filter.eventIds) : null,
    error_type: filter.errorType ?? null,
    failed_before: filter.failedBefore ?? null,
    limit: filter.limit,
  };
}

export type FailedEventRow = {
  readonly event_id: string;
  readonly error_type: string;
  readonly error_message: string;
  readonly attempts: number;
  readonly failed_at: string;
};

/** Most rows one listing returns (a response under the Data API's 1 MiB even with long messages). */
export const LIST_FAILED_MAX = 1000;

/** The database's clock: dead letters are stamped with it. */
export async function databaseNow(sql: SqlExecutor): Promise<string> {
  // As text: full microseconds (a parsed timestamp would keep milliseconds and miss rows within one).
  const result = await sql.query<{ now: string }>('SELECT now()::text AS now');
  return result.rows[0]?.now as string;
}

/**
 * Failed events matching a filter, oldest first (for --dry-run and listing). Unparsable stream
 * entries are never candidates: there is no event to replay, only the bytes that were on the stream.
 */
export async function listFailed(sql: SqlExecutor, filter: RedriveFilter): Promise<FailedEventRow[]> {
  const result = await sql.query<FailedEventRow>(
    `SELECT f.event_id::text AS event_id, f.error_type, left(f.error_message, 300) AS error_message, f.attempts, f.failed_at
     FROM failed_events f WHERE ${FILTER} ORDER BY f.failed_at LIMIT least(:limit, ${LIST_FAILED_MAX})`,
    filterParams(filter),
  );
  return result.rows;
}

/**
 * Reopens failed events for replay in one transaction: the outcome goes back to open and the dead
 * letter is marked replayed. Returns their payloads for re-publishing. At most PAYLOAD_ROWS_PER_QUERY
 * per call; call again for more (reopened rows no longer match the filter).
 */
export function reopenFailed(sql: SqlExecutor, filter: RedriveFilter): Promise<Array<{ event_id: string; payload: unknown }>> {
  return sql.transaction(async (tx) => {
    const marked = await tx.query<{ event_id: string; payload: unknown }>(
      `UPDATE failed_events AS target SET replayed_at = now(), replay_count = target.replay_count + 1
       WHERE target.event_id IN (
         SELECT f.event_id FROM failed_events f WHERE ${FILTER} ORDER BY f.failed_at LIMIT :limit FOR UPDATE)
       RETURNING target.event_id::text AS event_id, target.payload`,
      filterParams(filter),
    );
    if (marked.rows.length > 0) {
      await tx.query(
        `UPDATE raw_events SET outcome = NULL, outcome_at = NULL, republished_at = now()
         WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid) AND outcome = 'failed'`,
        { ids: sqlJson(marked.rows.map((row) => row.event_id)) },
      );
    }
    return marked.rows;
  });
}
