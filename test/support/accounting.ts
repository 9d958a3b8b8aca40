// The fault suite's bookkeeping: what was sent and how the API answered (a ledger), and what Postgres
// holds for it afterwards (lost, duplicated, wrong outcome). Reads tables directly; never trusts the API.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

/** What must become of an accepted event. */
export type Expected = { readonly outcome: 'processed' } | { readonly outcome: 'failed'; readonly errorType: string };

export const PROCESSED: Expected = { outcome: 'processed' };
export const RULE_VIOLATION: Expected = { outcome: 'failed', errorType: 'RuleViolation' };

export interface PlannedEvent {
  readonly event_id: string;
  readonly body: Record<string, unknown>;
  /** null: the API must refuse it (4xx) and store nothing. */
  readonly expected: Expected | null;
}

const DAY_MS = 86_400_000;

const VALID: Array<(id: string, n: number) => Record<string, unknown>> = [
  (id, n) => ({
    event_id: id,
    event_type: 'purchase',
    user_id: `u-${n % 7}`,
    properties: { amount: 12.5 + (n % 5), product: 'Widget' },
  }),
  (id, n) => ({ event_id: id, event_type: 'page_view', user_id: `u-${n % 7}`, properties: { page: `/p/${n}` } }),
  (id, n) => ({ event_id: id, event_type: 'user_signup', user_id: `new-${n}`, properties: { plan: 'free' } }),
  (id) => ({ event_id: id, event_type: 'custom', timestamp: '2026-01-02T03:04:05+01:00', properties: { k: 'v' } }),
  (id, n) => ({ event_id: id, event_type: 'purchase', user_id: `u-${n % 7}`, properties: { amount: 1500, sku: 'big' } }),
];

/** Accepted by the API (schema-valid) but refused by the consumer's business rules. */
const VIOLATING: Array<(id: string) => Record<string, unknown>> = [
  (id) => ({ event_id: id, event_type: 'purchase', user_id: 'u-1', properties: { amount: 0 } }),
  (id) => ({ event_id: id, event_type: 'purchase', user_id: 'u-1', properties: { product: 'no amount' } }),
  (id) => ({ event_id: id, event_type: 'user_signup', properties: {} }),
  (id) => ({ event_id: id, event_type: 'custom', timestamp: new Date(Date.now() + DAY_MS).toISOString(), properties: {} }),
];

/** Refused by the API's schema (400): each carries an event_id so we can prove it was stored nowhere. */
const INVALID: Array<(id: string) => Record<string, unknown>> = [
  (id) => ({ event_id: id, event_type: 'refund', properties: { amount: 3 } }),
  (id) => ({ event_id: id, event_type: 'custom', colour: 'red' }),
  (id) => ({ event_id: id, event_type: 'page_view', user_id: 'x'.repeat(256) }),
  (id) => ({ event_id: id, event_type: 'custom', timestamp: 'yesterday' }),
  (id) => ({ event_id: id, event_type: 'custom', properties: [1, 2] }),
];

/**
 * `count` schema-valid events, one in `violationEvery` breaking a business rule (deterministic mix),
 * plus `invalid` schema-invalid requests.
 */
export function planEvents(count: number, options: { violationEvery?: number; invalid?: number } = {}): PlannedEvent[] {
  const every = options.violationEvery ?? 10;
  const planned: PlannedEvent[] = [];
  for (let n = 0; n < count; n++) {
    const id = randomUUID();
    if (every > 0 && n % every === every - 1) {
      planned.push({
        event_id: id,
        body: (VIOLATING[n % VIOLATING.length] as (id: string) => Record<string, unknown>)(id),
        expected: RULE_VIOLATION,
      });
    } else {
      planned.push({
        event_id: id,
        body: (VALID[n % VALID.length] as (id: string, n: number) => Record<string, unknown>)(id, n),
        expected: PROCESSED,
      });
    }
  }
  for (let n = 0; n < (options.invalid ?? 0); n++) {
    const id = randomUUID();
    planned.push({
      event_id: id,
      body: (INVALID[n % INVALID.length] as (id: string) => Record<string, unknown>)(id),
      expected: null,
    });
  }
  return planned;
}

/** Runs `fn` over `items` with at most `limit` at a time, keeping order of results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface Answer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: unknown;
}

/** Every event sent, and what the API answered. */
export class Ledger {
  /** Events submitted (each repeat and each event of a batch counts). */
  sent = 0;
  readonly accepted = new Map<string, Expected>();
  /** Refused with 4xx: must be stored nowhere. */
  readonly rejected = new Set<string>();
  /** Refused with 503: nothing was accepted, so nothing may be stored. */
  readonly unavailable = new Set<string>();
  /** Answers the test did not plan for (5xx other than 503, 4xx for a valid event, …), for the failure message. */
  readonly surprises: string[] = [];
  /** Every 503's Retry-After header. */
  readonly retryAfter: Array<string | null> = [];

  /** Counts an event that reached the pipeline without the API (e.g. an entry XADDed directly). */
  expect(eventId: string, expected: Expected): void {
    this.sent++;
    this.accepted.set(eventId, expected);
  }

  note(event: PlannedEvent, answer: Answer): void {
    this.sent++;
    if (answer.status === 202) {
      if (event.expected === null) this.surprises.push(`${event.event_id}: schema-invalid event answered 202`);
      else this.accepted.set(event.event_id, event.expected);
    } else if (answer.status === 503) {
      this.unavailable.add(event.event_id);
      this.retryAfter.push(answer.retryAfter);
    } else if (answer.status >= 400 && answer.status < 500 && answer.status !== 409) {
      if (event.expected !== null)
        this.surprises.push(`${event.event_id}: valid event answered ${answer.status} ${JSON.stringify(answer.body)}`);
      this.rejected.add(event.event_id);
    } else {
      this.surprises.push(`${event.event_id}: answered ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  }

  /** Ids that must end with an outcome. */
  get acceptedIds(): string[] {
    return [...this.accepted.keys()];
  }

  /** Ids that must be stored nowhere (refused with 4xx or 503, and never accepted later). */
  get refusedIds(): string[] {
    return [...this.rejected, ...this.unavailable].filter((id) => !this.accepted.has(id));
  }
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** POST /events for one planned event; the answer goes into the ledger. */
export async function postEvent(apiUrl: string, event: PlannedEvent, ledger: Ledger): Promise<Answer> {
  const response = await fetch(`${apiUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event.body),
  });
  const answer = { status: response.status, retryAfter: response.headers.get('retry-after'), body: await readBody(response) };
  ledger.note(event, answer);
  return answer;
}

/** POST /events/batch for schema-valid events (a batch with one invalid event is refused whole). */
export async function postBatch(apiUrl: string, events: readonly PlannedEvent[], ledger: Ledger): Promise<Answer> {
  const response = await fetch(`${apiUrl}/events/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: events.map((event) => event.body) }),
  });
  const answer = { status: response.status, retryAfter: response.headers.get('retry-after'), body: await readBody(response) };
  const results = (answer.body as { results?: Array<{ event_id: string; status: string }> }).results;
  for (const event of events) {
    const result = results?.find((r) => r.event_id === event.event_id);
    const status = answer.status === 202 || answer.status === 207 ? (result?.status === 'accepted' ? 202 : 409) : answer.status;
    ledger.note(event, { ...answer, status });
  }
  return answer;
}

/**
 * Sends planned events: schema-invalid ones one by one, the others one by one or in batches of
 * `batchSize`, `concurrency` requests at a time.
 */
export async function sendEvents(
  apiUrl: string,
  events: readonly PlannedEvent[],
  ledger: Ledger,
  options: { concurrency?: number; batchSize?: number } = {},
): Promise<void> {
  const concurrency = options.concurrency ?? 8;
  const batchSize = options.batchSize ?? 1;
  const invalid = events.filter((event) => event.expected === null);
  const valid = events.filter((event) => event.expected !== null);
  const requests: Array<() => Promise<unknown>> = invalid.map((event) => () => postEvent(apiUrl, event, ledger));
  if (batchSize <= 1) {
    for (const event of valid) requests.push(() => postEvent(apiUrl, event, ledger));
  } else {
    for (let i = 0; i < valid.length; i += batchSize) {
      const chunk = valid.slice(i, i + batchSize);
      requests.push(() => postBatch(apiUrl, chunk, ledger));
    }
  }
  // Interleave invalid requests with the valid traffic rather than sending them all first.
  const order = requests.map((_, i) => i).sort((a, b) => (a % 7) - (b % 7) || a - b);
  await mapLimit(order, concurrency, (index) => (requests[index] as () => Promise<unknown>)());
}

/** What Postgres holds for one event_id. */
export interface Outcome {
  readonly id: string;
  readonly raw: boolean;
  readonly rawOutcome: 'processed' | 'failed' | null;
  readonly republished: boolean;
  readonly processed: number;
  readonly failed: number;
  readonly errorType: string | null;
  readonly replayCount: number | null;
  readonly attempts: number | null;
  readonly processedBy: string | null;
}

/** Reads the outcome rows of `ids` (raw_events, processed_events, failed_events) in one query. */
export async function readOutcomes(pool: pg.Pool, ids: readonly string[]): Promise<Map<string, Outcome>> {
  if (ids.length === 0) return new Map();
  const result = await pool.query<{
    id: string;
    raw: boolean;
    raw_outcome: 'processed' | 'failed' | null;
    republished: boolean;
    processed: number;
    failed: number;
    error_type: string | null;
    replay_count: number | null;
    attempts: number | null;
    processed_by: string | null;
  }>(
    `WITH ids AS (SELECT DISTINCT jsonb_array_elements_text($1::jsonb)::uuid AS id)
     SELECT ids.id::text AS id,
            r.event_id IS NOT NULL AS raw, r.outcome AS raw_outcome, r.republished_at IS NOT NULL AS republished,
            (SELECT count(*) FROM processed_events p WHERE p.event_id = ids.id)::int AS processed,
            (SELECT count(*) FROM failed_events f WHERE f.event_id = ids.id)::int AS failed,
            f.error_type, f.replay_count, p.attempts, p.enriched_data->>'processed_by' AS processed_by
     FROM ids
     LEFT JOIN raw_events r ON r.event_id = ids.id
     LEFT JOIN processed_events p ON p.event_id = ids.id
     LEFT JOIN failed_events f ON f.event_id = ids.id`,
    [JSON.stringify(ids)],
  );
  return new Map(
    result.rows.map((row) => [
      row.id,
      {
        id: row.id,
        raw: row.raw,
        rawOutcome: row.raw_outcome,
        republished: row.republished,
        processed: row.processed,
        failed: row.failed,
        errorType: row.error_type,
        replayCount: row.replay_count,
        attempts: row.attempts,
        processedBy: row.processed_by,
      },
    ]),
  );
}

/** True when every id has its outcome decided (raw outcome set and an outcome row written). */
export function allDecided(outcomes: Map<string, Outcome>, ids: readonly string[]): boolean {
  return ids.every((id) => {
    const outcome = outcomes.get(id);
    return outcome !== undefined && outcome.rawOutcome !== null && outcome.processed + outcome.failed > 0;
  });
}

export interface AccountingReport {
  readonly sent: number;
  readonly accepted: number;
  readonly refused: number;
  readonly processed: number;
  readonly failed: number;
  /** Accepted without an outcome. */
  readonly lost: number;
  /** Accepted ids with more than one outcome row (both tables; a table's primary key allows one row each). */
  readonly duplicated: number;
  /** Accepted ids whose outcome is not the expected one (id: what was found). */
  readonly wrongOutcome: string[];
  /** Refused ids found in raw_events, processed_events or failed_events. */
  readonly storedRefused: string[];
  /** Outcome rows raw_events does not agree with. */
  readonly rawMismatch: string[];
  /** Rows in processed_events / failed_events for no id of this ledger. */
  readonly strayRows: number;
  readonly lostIds: string[];
  readonly duplicatedIds: string[];
  readonly surprises: string[];
}

function describe(outcome: Outcome | undefined): string {
  if (!outcome) return 'nothing';
  return `raw=${outcome.raw}/${outcome.rawOutcome} processed=${outcome.processed} failed=${outcome.failed}${outcome.errorType ? `(${outcome.errorType})` : ''}`;
}

/** Compares Postgres with the ledger. Call once the system is quiet. */
export async function account(pool: pg.Pool, ledger: Ledger): Promise<AccountingReport> {
  const ids = ledger.acceptedIds;
  const refused = ledger.refusedIds;
  const [outcomes, refusedOutcomes, totals] = await Promise.all([
    readOutcomes(pool, ids),
    readOutcomes(pool, refused),
    pool.query<{ processed: number; failed: number }>(
      `SELECT (SELECT count(*) FROM processed_events)::int AS processed, (SELECT count(*) FROM failed_events)::int AS failed`,
    ),
  ]);
  let processed = 0;
  let failed = 0;
  const lostIds: string[] = [];
  const duplicatedIds: string[] = [];
  const wrongOutcome: string[] = [];
  const rawMismatch: string[] = [];
  for (const id of ids) {
    const outcome = outcomes.get(id);
    const rows = (outcome?.processed ?? 0) + (outcome?.failed ?? 0);
    if (rows === 0) lostIds.push(id);
    if (rows > 1) duplicatedIds.push(id);
    processed += outcome?.processed ?? 0;
    failed += outcome?.failed ?? 0;
    const expected = ledger.accepted.get(id) as Expected;
    const ok =
      expected.outcome === 'processed'
        ? outcome?.processed === 1 && outcome.failed === 0
        : outcome?.failed === 1 && outcome.processed === 0 && outcome.errorType === expected.errorType;
    if (!ok && rows > 0) wrongOutcome.push(`${id}: expected ${JSON.stringify(expected)}, found ${describe(outcome)}`);
    if (rows === 1) {
      const table = outcome?.processed === 1 ? 'processed' : 'failed';
      if (!outcome?.raw || outcome.rawOutcome !== table) rawMismatch.push(`${id}: ${describe(outcome)}`);
    }
  }
  const storedRefused = [...refusedOutcomes.values()]
    .filter((outcome) => outcome.raw || outcome.processed > 0 || outcome.failed > 0)
    .map((outcome) => `${outcome.id}: ${describe(outcome)}`);
  const totalRows = (totals.rows[0]?.processed ?? 0) + (totals.rows[0]?.failed ?? 0);
  return {
    sent: ledger.sent,
    accepted: ids.length,
    refused: refused.length,
    processed,
    failed,
    lost: lostIds.length,
    duplicated: duplicatedIds.length,
    wrongOutcome,
    storedRefused,
    rawMismatch,
    strayRows: totalRows - processed - failed,
    lostIds,
    duplicatedIds,
    surprises: [...ledger.surprises],
  };
}
