// Replaying dead letters: reopen the chosen failed events and put them back on the stream, so a
// replay that now passes ends processed exactly once (its failed_events row is then removed).
import { parseStreamedEvent } from '../../schemas/event.ts';
import type { EventStream, Logger, SqlExecutor } from '../ports.ts';
import {
  databaseNow,
  type FailedEventRow,
  listFailed,
  PAYLOAD_ROWS_PER_QUERY,
  type RedriveFilter,
  reopenFailed,
} from './store.ts';

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
