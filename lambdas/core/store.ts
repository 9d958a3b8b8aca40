// The raw_events statements (ingest, lookups, the reconciler) over the SqlExecutor port, and the
// chunking every batch statement shares: a batch travels as one JSON parameter (jsonb_to_recordset), so
// it is one round trip on every driver, the Data API included. Outcomes: outcomes.ts; redrive: redrive.ts.
import type { AcceptedEvent } from '../../schemas/event.ts';
import { type SqlExecutor, type SqlRow, sqlJson, sqlUuid } from '../ports.ts';
import { chunkBySize } from '../shared/chunks.ts';

/**
 * Runs a statement that takes its rows as one `:rows` JSON parameter, in as many calls as the
 * executor's statement size allows, and returns every row the calls returned.
 */
export async function queryInChunks<Out extends SqlRow>(
  sql: SqlExecutor,
  statement: string,
  rows: readonly object[],
): Promise<Out[]> {
  const out: Out[] = [];
  // Leave room for the statement text and the protocol envelope around the JSON parameter.
  const jsonBytes = (row: object) => Buffer.byteLength(JSON.stringify(row)) + 1;
  for (const chunk of chunkBySize(rows, jsonBytes, Math.max(1024, sql.maxStatementBytes - 16 * 1024))) {
    out.push(...(await sql.query<Out>(statement, { rows: sqlJson(chunk) })).rows);
  }
  return out;
}

/** The ids a chunked statement returned. */
export const returnedIds = async (rows: Promise<Array<{ event_id: string }>>): Promise<Set<string>> =>
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
