// The outcome writes: processed rows and dead letters, each in the one statement that claims the
// event's outcome on raw_events under its row lock, the one place "exactly once" is decided.
import type { AcceptedEvent } from '../../schemas/event.ts';
import type { SqlExecutor } from '../ports.ts';
import { queryInChunks, returnedIds } from './store.ts';

export interface ProcessedRow {
  readonly event_id: string;
  readonly event_type: string;
  readonly user_id: string | null;
  readonly occurred_at: string;
  readonly properties: Record<string, unknown>;
  readonly enriched_data: unknown;
  readonly attempts: number;
  /** The accepted event, for a raw row when none exists yet (events that bypassed ingest's insert). */
  readonly payload: AcceptedEvent;
  readonly received_at: string;
}

/**
 * The CTE that decides "exactly one outcome": it sets raw_events.outcome for the `input` rows whose
 * outcome is still open, under the row lock (a racing consumer waits, then sees it set and gets
 * nothing back), creating the raw row if the event never had one. Returns the claimed ids as `claimed`.
 */
const claimOutcome = (outcome: 'processed' | 'failed') => `claimed AS (
  INSERT INTO raw_events AS raw (event_id, payload, received_at, outcome, outcome_at)
  SELECT event_id, payload, received_at, '${outcome}', now() FROM input
  ON CONFLICT (event_id) DO UPDATE SET outcome = '${outcome}', outcome_at = now()
  WHERE raw.outcome IS NULL
  RETURNING raw.event_id
)`;

const RECORD_PROCESSED = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset(:rows::jsonb) AS r(
    event_id uuid, event_type text, user_id text, occurred_at timestamptz, properties jsonb,
    enriched_data jsonb, attempts integer, payload jsonb, received_at timestamptz)
), ${claimOutcome('processed')}, inserted AS (
  INSERT INTO processed_events (event_id, event_type, user_id, occurred_at, properties, enriched_data, attempts)
  SELECT i.event_id, i.event_type, i.user_id, i.occurred_at, i.properties, i.enriched_data, i.attempts
  FROM input i JOIN claimed c ON c.event_id = i.event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
), cleared AS (
  DELETE FROM failed_events f USING inserted i WHERE f.event_id = i.event_id
)
SELECT event_id::text AS event_id FROM inserted`;

/**
 * Writes processed events whose outcome is still open. Returns the ids written now; the others
 * already had an outcome (duplicates). Rows must have distinct event_ids.
 */
export function recordProcessed(sql: SqlExecutor, rows: readonly ProcessedRow[]): Promise<Set<string>> {
  return returnedIds(queryInChunks(sql, RECORD_PROCESSED, rows));
}

export interface FailedRow {
  readonly event_id: string;
  /** The accepted event, or for an unparsable entry `{stream_entry_id, data}`. */
  readonly payload: unknown;
  readonly received_at: string;
  readonly error_type: string;
  readonly error_message: string;
  readonly attempts: number;
}

const RECORD_FAILED = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset(:rows::jsonb) AS r(
    event_id uuid, payload jsonb, received_at timestamptz, error_type text, error_message text, attempts integer)
), ${claimOutcome('failed')}
INSERT INTO failed_events AS f (event_id, payload, error_type, error_message, attempts, failed_at)
SELECT i.event_id, i.payload, i.error_type, i.error_message, i.attempts, now()
FROM input i JOIN claimed c ON c.event_id = i.event_id
ON CONFLICT (event_id) DO UPDATE SET
  error_type = EXCLUDED.error_type, error_message = EXCLUDED.error_message,
  attempts = EXCLUDED.attempts, failed_at = EXCLUDED.failed_at, replayed_at = NULL
RETURNING event_id::text AS event_id, failed_at`;

/** Dead-letters events whose outcome is still open; returns the ids written now with their time. */
export async function recordFailed(sql: SqlExecutor, rows: readonly FailedRow[]): Promise<Map<string, string>> {
  const written = await queryInChunks<{ event_id: string; failed_at: string }>(sql, RECORD_FAILED, rows);
  return new Map(written.map((row) => [row.event_id, row.failed_at]));
}
