// Every SQL statement the pipeline runs, over the SqlExecutor port. Batches travel as one JSON
// parameter (jsonb_to_recordset), so a batch is one round trip on every driver, the Data API included.
// Outcomes are claimed on raw_events.outcome under its row lock: the one place "exactly once" is decided.
import type { AcceptedEvent } from '../../schemas/event.ts';
import { type SqlExecutor, type SqlRow, sqlJson, sqlUuid } from '../ports.ts';
import { chunkBySize } from '../shared/chunks.ts';
import { UNPARSABLE_ENTRY } from './drain/error-types.ts';

/**
 * Runs a statement that takes its rows as one `:rows` JSON parameter, in as many calls as the
 * executor's statement size allows, and returns every row the calls returned.
 */
async function queryInChunks<Out extends SqlRow>(sql: SqlExecutor, statement: string, rows: readonly object[]): Promise<Out[]> {
  const out: Out[] = [];
  // Leave room for the statement text and the protocol envelope around the JSON parameter.
  const jsonBytes = (row: object) => Buffer.byteLength(JSON.stringify(row)) + 1;
  for (const chunk of chunkBySize(rows, jsonBytes, Math.max(1024, sql.maxStatementBytes - 16 * 1024))) {
    out.push(...(await sql.query<Out>(statement, { rows: sqlJson(chunk) })).rows);
  }
  return out;
}

/** The ids a chunked statement returned. */
const returnedIds = async (rows: Promise<Array<{ event_id: string }>>): Promise<Set<string>> =>
  new Set((await rows).map((row) => row.event_id));

const RAW_INSERT = `
INSERT INTO raw_events (event_id, payload, received_at, republished_at, producer)
SELECT r.event_id, r.payload, r.received_at, r.republished_at, r.payload->>'producer'
FROM jsonb_to_recordset(:rows::jsonb) AS r(event_id uuid, payload jsonb, received_at timestamptz, republished_at timestamptz)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id::text AS event_id`;

/**
 * Inserts raw events; returns the ids that were new (the others existed already). `publishedAt`
 * marks rows published later than received (fallback-queue events), so the reconciler waits its grace.
 */
export function insertRawEvents(
  sql: SqlExecutor,
  events: readonly AcceptedEvent[],
  publishedAt: Date | null = null,
): Promise<Set<string>> {
  const republished_at = publishedAt?.toISOString() ?? null;
  const rows = events.map((event) => ({
    event_id: event.event_id,
    payload: event,
    received_at: event.received_at,
    republished_at,
  }));
  return returnedIds(queryInChunks(sql, RAW_INSERT, rows));
}

export type StoredRaw = {
  readonly event_id: string;
  readonly payload: AcceptedEvent;
  readonly received_at: string;
  readonly outcome: 'processed' | 'failed' | null;
};

/**
 * Statements that return payloads fetch at most this many rows: payloads reach 32 KB, jsonb output
 * adds spaces, the Data API's JSON escaping can double that, and it caps a response at 1 MiB.
 */
export const PAYLOAD_ROWS_PER_QUERY = 8;

/** Reads raw events by id (the idempotent-repeat path of ingest; not the hot path). */
export async function findRawEvents(sql: SqlExecutor, ids: readonly string[]): Promise<Map<string, StoredRaw>> {
  const found = new Map<string, StoredRaw>();
  for (let i = 0; i < ids.length; i += PAYLOAD_ROWS_PER_QUERY) {
    const result = await sql.query<StoredRaw>(
      `SELECT event_id::text AS event_id, payload, received_at, outcome
       FROM raw_events WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid)`,
      { ids: sqlJson(ids.slice(i, i + PAYLOAD_ROWS_PER_QUERY)) },
    );
    for (const row of result.rows) found.set(row.event_id, row);
  }
  return found;
}

/** Stamps events as (re)published now, so the reconciler waits a full grace before trying them. */
export async function markRepublished(sql: SqlExecutor, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql.query(
    `UPDATE raw_events SET republished_at = now()
     WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid) AND outcome IS NULL`,
    { ids: sqlJson(ids) },
  );
}

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

export type EventStatusRow = {
  readonly event_id: string;
  readonly event_type: string | null;
  readonly received_at: string;
  readonly outcome: 'processed' | 'failed' | null;
  readonly outcome_at: string | null;
  readonly processed_at: string | null;
  readonly attempts: number | null;
  readonly enriched_data: unknown;
  readonly error_type: string | null;
  readonly error_message: string | null;
  readonly failed_at: string | null;
  readonly replay_count: number | null;
  readonly replayed_at: string | null;
  /** When the event was last put back on the stream (a redrive's reopen, or the reconciler). */
  readonly republished_at: string | null;
  /** Who sent it (API key id or PRODUCER_KEYS name); null when unknown (no identity, or before 002_producers). */
  readonly producer: string | null;
};

export async function findEventStatus(sql: SqlExecutor, eventId: string): Promise<EventStatusRow | null> {
  const result = await sql.query<EventStatusRow>(
    `SELECT r.event_id::text AS event_id, r.payload->>'event_type' AS event_type, r.received_at, r.outcome, r.outcome_at,
            p.processed_at, COALESCE(p.attempts, f.attempts) AS attempts, p.enriched_data,
            f.error_type, f.error_message, f.failed_at, f.replay_count, f.replayed_at, r.republished_at, r.producer
     FROM raw_events r
     LEFT JOIN processed_events p ON p.event_id = r.event_id
     LEFT JOIN failed_events f ON f.event_id = r.event_id
     WHERE r.event_id = :id`,
    { id: sqlUuid(eventId) },
  );
  return result.rows[0] ?? null;
}

/** Most raw events one reconcile claim takes; their payloads are then read in size-bounded pages. */
export const RECONCILE_CLAIM_ROWS = 500;

/** JSON text one payload read may return: under the Data API's 1 MiB response with its escaping. */
const PAYLOAD_READ_BYTES = 400 * 1024;

/**
 * Claims raw events that have had no outcome since before `cutoff` and were not republished since,
 * marking them republished now; returns their ids and payload sizes (payloads are read by
 * readPayloads, in pages that fit a response). SKIP LOCKED lets consumers split the work.
 */
export async function claimUnresolved(
  sql: SqlExecutor,
  options: { cutoff: Date; limit: number },
): Promise<Array<{ event_id: string; bytes: number }>> {
  const result = await sql.query<{ event_id: string; bytes: number }>(
    `UPDATE raw_events SET republished_at = now()
     WHERE event_id IN (
       SELECT event_id FROM raw_events
       WHERE outcome IS NULL AND received_at < :cutoff AND COALESCE(republished_at, received_at) < :cutoff
       ORDER BY received_at
       LIMIT :limit
       FOR UPDATE SKIP LOCKED)
     RETURNING event_id::text AS event_id, octet_length(payload::text) AS bytes`,
    { cutoff: options.cutoff, limit: Math.min(options.limit, RECONCILE_CLAIM_ROWS) },
  );
  return result.rows;
}

/** Reads raw payloads by id, in as few statements as the response size allows. */
export async function readPayloads(
  sql: SqlExecutor,
  rows: ReadonlyArray<{ event_id: string; bytes: number }>,
): Promise<AcceptedEvent[]> {
  const out: AcceptedEvent[] = [];
  // Escaped JSON inside a JSON response can double a payload's size.
  for (const page of chunkBySize(rows, (row) => 2 * Number(row.bytes) + 64, PAYLOAD_READ_BYTES)) {
    const result = await sql.query<{ payload: AcceptedEvent }>(
      `SELECT payload FROM raw_events WHERE event_id IN (SELECT jsonb_array_elements_text(:ids::jsonb)::uuid) ORDER BY received_at`,
      { ids: sqlJson(page.map((row) => row.event_id)) },
    );
    out.push(...result.rows.map((row) => row.payload));
  }
  return out;
}

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
