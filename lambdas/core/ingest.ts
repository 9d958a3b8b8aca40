// Accepting events: validate every envelope, store the raw copy, publish to the stream.
// A 202 is only ever returned after the raw copy is durable (Postgres, or the SQS fallback queue).
import { isDeepStrictEqual } from 'node:util';
import { type AcceptedEvent, acceptEnvelope, type Issue, MAX_EVENT_BYTES } from '../../schemas/event.ts';
import { DependencyUnavailableError } from '../errors.ts';
import { DEFAULT_PRODUCER_LABEL, type Metrics } from '../observability/metric-names.ts';
import type { Clock, EventStream, IngestFallbackQueue, Logger, SqlExecutor } from '../ports.ts';
import { findRawEvents, insertRawEvents, type StoredRaw } from './store.ts';

export interface IngestDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly fallback?: IngestFallbackQueue;
  readonly clock: Clock;
  readonly newId: () => string;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** The request broke the contract; nothing was stored. */
export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
  constructor(readonly issues: Issue[]) {
    super(`invalid event: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`);
  }
}

/** An event is larger than MAX_EVENT_BYTES; nothing was stored. */
export class EventTooLargeError extends Error {
  override readonly name = 'EventTooLargeError';
  constructor(
    readonly path: string,
    readonly bytes: number,
  ) {
    super(`${path} is ${bytes} bytes serialized; the limit is ${MAX_EVENT_BYTES}`);
  }
}

export type IngestResult =
  | { readonly event_id: string; readonly status: 'accepted'; readonly received_at: string; readonly duplicate: boolean }
  | { readonly event_id: string; readonly status: 'conflict'; readonly message: string };

/** A batch item refused by the contract; nothing of it was stored. `event_id` when the item named a valid one. */
export interface RejectedItem {
  readonly status: 'rejected';
  readonly event_id: string | null;
  readonly issues: Issue[];
  /** Set when the item broke the size limit (a 413 for a single event). */
  readonly bytes?: number;
}

export interface ItemValidation {
  /** The valid items, ready for ingestEvents. */
  readonly valid: ValidatedEvents;
  /** Per input, in order: the index into `valid.events`, or why the item was refused. */
  readonly items: ReadonlyArray<{ readonly index: number } | RejectedItem>;
}

export interface ValidatedEvents {
  readonly events: AcceptedEvent[];
  /** Ids of events whose producer gave a timestamp (a retry without one still matches). */
  readonly timestampGiven: Set<string>;
}

export interface ValidationContext {
  readonly receivedAt: Date;
  readonly newId: () => string;
  readonly pathOf: (index: number) => string;
  /** Who sent the request (recorded with each event); null or absent without a producer identity. */
  readonly producer?: string | null;
}

/**
 * Validates each input on its own and fills defaults: the valid ones can be stored while the others
 * are named with their issues (a producer then resends only those).
 */
export function validateEach(inputs: readonly unknown[], context: ValidationContext): ItemValidation {
  const events: AcceptedEvent[] = [];
  const timestampGiven = new Set<string>();
  const firstIndexOfId = new Map<string, number>();
  const items = inputs.map((input, index): { index: number } | RejectedItem => {
    const pathPrefix = context.pathOf(index);
    const result = acceptEnvelope(input, {
      receivedAt: context.receivedAt,
      newId: context.newId,
      pathPrefix,
      producer: context.producer ?? null,
    });
    if (!result.ok) return { status: 'rejected', event_id: namedEventId(input), issues: result.issues };
    const bytes = Buffer.byteLength(JSON.stringify(result.event));
    if (bytes > MAX_EVENT_BYTES) {
      const path = pathPrefix || 'event';
      return {
        status: 'rejected',
        event_id: result.event.event_id,
        issues: [{ path, message: `is ${bytes} bytes serialized; the limit is ${MAX_EVENT_BYTES}` }],
        bytes,
      };
    }
    const earlier = firstIndexOfId.get(result.event.event_id);
    if (earlier !== undefined) {
      return {
        status: 'rejected',
        event_id: result.event.event_id,
        issues: [{ path: `${pathPrefix}.event_id`, message: `repeats the event_id of ${context.pathOf(earlier)}` }],
      };
    }
    firstIndexOfId.set(result.event.event_id, index);
    events.push(result.event);
    if (result.timestampGiven) timestampGiven.add(result.event.event_id);
    return { index: events.length - 1 };
  });
  return { valid: { events, timestampGiven }, items };
}

/** The event_id a refused item named, when it is a well-formed one (so the producer can match it up). */
function namedEventId(input: unknown): string | null {
  const id = (input as { event_id?: unknown } | null)?.event_id;
  return typeof id === 'string' && /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(id)
    ? id.toLowerCase()
    : null;
}

/** Validates every input (all or nothing) and fills defaults. */
export function validateEvents(inputs: readonly unknown[], context: ValidationContext): ValidatedEvents {
  const { valid, items } = validateEach(inputs, context);
  const rejected = items.filter((item): item is RejectedItem => 'issues' in item);
  const tooLarge = rejected.find((item) => item.bytes !== undefined);
  if (tooLarge) throw new EventTooLargeError(tooLarge.issues[0]?.path ?? 'event', tooLarge.bytes ?? 0);
  if (rejected.length > 0) throw new EventValidationError(rejected.flatMap((item) => item.issues));
  return valid;
}

const receivedLabels = (event: AcceptedEvent) => ({
  event_type: event.event_type,
  producer: event.producer ?? DEFAULT_PRODUCER_LABEL,
});

/** Same event (a client retry) or a different event reusing an event_id? */
function isSameEvent(stored: AcceptedEvent, incoming: AcceptedEvent, timestampGiven: boolean): boolean {
  return (
    stored.event_type === incoming.event_type &&
    (stored.user_id ?? null) === incoming.user_id &&
    // Compared as stored: JSON turns -0 into 0, so the incoming side takes the same trip.
    isDeepStrictEqual(stored.properties, JSON.parse(JSON.stringify(incoming.properties))) &&
    (!timestampGiven || Date.parse(stored.timestamp) === Date.parse(incoming.timestamp))
  );
}

/**
 * Stores and publishes validated events. One multi-row INSERT and one pipelined XADD on the hot
 * path. A repeat of a stored event answers like the first time and re-publishes it while it has no
 * outcome (it may be the retry of a request whose publish failed). Returns one result per event.
 */
export async function ingestEvents({ events, timestampGiven }: ValidatedEvents, deps: IngestDeps): Promise<IngestResult[]> {
  let inserted: Set<string>;
  try {
    inserted = await insertRawEvents(deps.sql, events);
  } catch (error) {
    if (error instanceof DependencyUnavailableError && error.dependency === 'database') {
      return acceptIntoFallback(events, error, deps);
    }
    throw error;
  }

  // The new events first: they are committed, so they are published before anything else can fail.
  const fresh = events.filter((event) => inserted.has(event.event_id));
  for (const event of fresh) deps.metrics.count('eventsReceived', 1, receivedLabels(event));
  await publish(fresh, deps);

  const repeats = events.filter((event) => !inserted.has(event.event_id));
  const stored: Map<string, StoredRaw> = repeats.length
    ? await findRawEvents(
        deps.sql,
        repeats.map((event) => event.event_id),
      )
    : new Map();
  const toRepublish: AcceptedEvent[] = [];
  const results = events.map((event): IngestResult => {
    if (inserted.has(event.event_id)) {
      return { event_id: event.event_id, status: 'accepted', received_at: event.received_at, duplicate: false };
    }
    const previous = stored.get(event.event_id);
    if (previous && !isSameEvent(previous.payload, event, timestampGiven.has(event.event_id))) {
      return { event_id: event.event_id, status: 'conflict', message: 'event_id was already used for a different event' };
    }
    if (previous && previous.outcome === null) toRepublish.push(previous.payload);
    return {
      event_id: event.event_id,
      status: 'accepted',
      received_at: previous?.received_at ?? event.received_at,
      duplicate: true,
    };
  });
  await publish(toRepublish, deps);
  return results;
}

/**
 * XADD after the raw row is committed. A failure is not the client's problem: the event is durable.
 * It is handed to the fallback queue as a "publish me" hint (the consumer's queue drain publishes
 * stored events that have no outcome), else the reconciler republishes it after its grace period.
 */
async function publish(events: readonly AcceptedEvent[], deps: IngestDeps): Promise<void> {
  if (events.length === 0) return;
  const data = events.map((event) => JSON.stringify(event));
  try {
    await deps.stream.add(data);
    return;
  } catch (error) {
    deps.logger.warn('publish failed after the raw events were stored', {
      event_ids: events.map((event) => event.event_id),
      error: String(error),
    });
  }
  if (!deps.fallback) return;
  try {
    await deps.fallback.send(data);
  } catch (error) {
    deps.logger.warn('fallback queue unavailable too; the reconciler will republish', { error: String(error) });
  }
}

async function acceptIntoFallback(
  events: readonly AcceptedEvent[],
  cause: DependencyUnavailableError,
  deps: IngestDeps,
): Promise<IngestResult[]> {
  if (!deps.fallback) throw cause;
  try {
    await deps.fallback.send(events.map((event) => JSON.stringify(event)));
  } catch (queueError) {
    throw new DependencyUnavailableError('database', 'database and ingest fallback queue are both unavailable', {
      cause: queueError,
    });
  }
  deps.logger.warn('database unavailable: events accepted into the fallback queue', {
    event_ids: events.map((event) => event.event_id),
    error: cause.message,
  });
  deps.metrics.count('ingestFallback', events.length);
  for (const event of events) deps.metrics.count('eventsReceived', 1, receivedLabels(event));
  return events.map((event) => ({
    event_id: event.event_id,
    status: 'accepted' as const,
    received_at: event.received_at,
    duplicate: false,
  }));
}
