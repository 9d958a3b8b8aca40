// The event contract: what producers may send (envelope) and what the consumer demands of each type
// (business rules). Single source for validation and types. Pure: no I/O, no clock of its own.
import * as z from 'zod/mini';

export const EVENT_TYPES = ['purchase', 'user_signup', 'page_view', 'custom'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Most events one POST /events/batch may carry. */
export const MAX_BATCH_EVENTS = 100;
/** Largest accepted serialized event (one event, UTF-8 bytes). */
export const MAX_EVENT_BYTES = 32 * 1024;
/** Deepest nesting accepted inside `properties` (an object directly in properties is depth 1). */
export const MAX_PROPERTIES_DEPTH = 8;
/** Keys refused anywhere in properties: they mean something to JS objects, never to analytics. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface Issue {
  /** Dotted path of the offending field, e.g. "properties.amount" or "events[2].event_type". */
  readonly path: string;
  readonly message: string;
}

// Postgres text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not Unicode: refuse both
// here (400) rather than fail at the INSERT (500) or, worse, after a 202.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching NUL is the point
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UNSTORABLE_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/** True when Postgres can store the text as it is. */
export const isStorableText = (text: string): boolean => text.search(UNSTORABLE_TEXT) === -1;

/** The text with whatever Postgres cannot store replaced by U+FFFD. */
export const toStorableText = (text: string): string => text.replace(UNSTORABLE_TEXT, '\uFFFD');

const tooDeep = (path: string): Issue => ({ path, message: `nesting deeper than ${MAX_PROPERTIES_DEPTH} levels` });

/**
 * The first value inside `properties` that cannot be stored as sent, depth-first in document order.
 * Iterative with an explicit stack, and a container's depth is checked before anything inside it is
 * looked at: a body nested 100,000 levels deep (arrays, objects, any mix) costs one issue, not a
 * stack overflow.
 */
function propertiesProblem(root: unknown): Issue | null {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value: root, depth: 0, path: 'properties' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth, path } = item;
    if (typeof value === 'string') {
      if (!isStorableText(value)) return { path, message: UNSTORABLE_MESSAGE };
      continue;
    }
    // JSON.parse turns 1e400 into Infinity, which JSON.stringify would silently store as null.
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path, message: 'numbers must be finite' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_PROPERTIES_DEPTH) return tooDeep(path);
    const children: Array<{ value: unknown; depth: number; path: string }> = [];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) children.push({ value: value[i], depth: depth + 1, path: `${path}[${i}]` });
    } else {
      for (const key of Object.keys(value)) {
        if (RESERVED_KEYS.has(key)) return { path: `${path}.${key}`, message: `key "${key}" is reserved` };
        if (!isStorableText(key)) return { path, message: `keys ${UNSTORABLE_MESSAGE}` };
        children.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1, path: `${path}.${key}` });
      }
    }
    // Reversed so the first child is popped first: issues name the first problem in document order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as (typeof children)[number]);
  }
  return null;
}

// The check runs on the value as JSON.parse made it, before z.record copies it: the copy drops an own
// `__proto__` key (zod skips it so the assignment cannot replace the copy's prototype), which would
// turn a refused key into a silently accepted event. A non-object is left to z.record's own message.
const properties = z.pipe(
  z.transform((value: unknown, payload) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const problem = propertiesProblem(value);
    if (problem) {
      payload.issues.push({ code: 'custom', message: problem.message, path: problem.path.split('.').slice(1), input: value });
    }
    return value;
  }),
  z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }),
);

/** What a producer sends. Unknown top-level fields are refused. */
export const eventEnvelope = z.strictObject(
  {
    event_id: z.optional(z.uuid({ error: 'must be a UUID' })),
    event_type: z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` }),
    user_id: z.optional(
      z
        .string({ error: 'must be a string' })
        .check(
          z.minLength(1, { error: 'must not be empty' }),
          z.maxLength(255, { error: 'must be at most 255 characters' }),
          z.refine(isStorableText, { error: UNSTORABLE_MESSAGE }),
        ),
    ),
    timestamp: z.optional(
      z.iso.datetime({ offset: true, local: true, error: 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' }),
    ),
    properties: z.optional(properties),
  },
  {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field: ${issue.keys.join(', ')}` : 'must be a JSON object'),
  },
);

export type EventEnvelope = z.infer<typeof eventEnvelope>;

const eventIdSchema = z.uuid();

/** Whether a string is an event id as the contract accepts it (lookups, redrive arguments). */
export const isEventId = (value: string): boolean => eventIdSchema.safeParse(value).success;

/** An accepted event, defaults filled: what raw_events.payload and the stream entry hold. */
export interface AcceptedEvent {
  readonly event_id: string;
  readonly event_type: EventType;
  readonly user_id: string | null;
  /** ISO 8601 UTC with `Z`. */
  readonly timestamp: string;
  readonly properties: Record<string, unknown>;
  /** ISO 8601 UTC with `Z`: when the API accepted it. */
  readonly received_at: string;
  /**
   * Who sent it, set by the API (never by the producer's body): API Gateway's API key id, or locally
   * the PRODUCER_KEYS name of its x-api-key. Absent when the request had no producer identity.
   */
  readonly producer?: string;
}

export type EnvelopeResult =
  | { readonly ok: true; readonly event: AcceptedEvent; readonly timestampGiven: boolean }
  | { readonly ok: false; readonly issues: Issue[] };

function formatPath(path: ReadonlyArray<PropertyKey>, prefix: string): string {
  let out = prefix;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(body)';
}

/**
 * zod issues as the API reports them: `{path, message}` with paths like "events[2].user_id", or
 * "(body)" for the body itself. `prefix` names where the validated value sits ("events[3]").
 */
export function issuesOf(
  issues: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>,
  prefix = '',
): Issue[] {
  return issues.map((issue) => ({ path: formatPath(issue.path, prefix), message: issue.message }));
}

/** ISO string in UTC; a date-time without an offset is taken as UTC. Empty when it is no real instant. */
export function toUtcIso(value: string): string {
  const hasZone = /(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$/.test(value);
  const date = new Date(hasZone ? value : `${value}Z`);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/**
 * Validates one envelope and fills its defaults. `pathPrefix` names it inside a batch ("events[3]").
 * `newId` makes the event_id when the producer gave none (UUIDv7 in production).
 */
export function acceptEnvelope(
  input: unknown,
  context: {
    readonly receivedAt: Date;
    readonly newId: () => string;
    readonly pathPrefix?: string;
    /** The sender's identity, recorded with the event (see AcceptedEvent.producer). */
    readonly producer?: string | null;
  },
): EnvelopeResult {
  const prefix = context.pathPrefix ?? '';
  const parsed = eventEnvelope.safeParse(input);
  if (!parsed.success) {
    return { ok: false, issues: issuesOf(parsed.error.issues, prefix) };
  }
  const envelope = parsed.data;
  const timestamp = envelope.timestamp ? toUtcIso(envelope.timestamp) : context.receivedAt.toISOString();
  // In UTC the year must stay 0001–9999: past it ISO strings gain a sign and six digits, and Postgres
  // has no year 0.
  if (!/^\d{4}-/.test(timestamp) || timestamp.startsWith('0000')) {
    return {
      ok: false,
      issues: [{ path: formatPath(['timestamp'], prefix), message: 'must be between 0001-01-01 and 9999-12-31 in UTC' }],
    };
  }
  return {
    ok: true,
    timestampGiven: envelope.timestamp !== undefined,
    event: {
      event_id: (envelope.event_id ?? context.newId()).toLowerCase(),
      event_type: envelope.event_type,
      user_id: envelope.user_id ?? null,
      timestamp,
      properties: envelope.properties ?? {},
      received_at: context.receivedAt.toISOString(),
      ...(context.producer ? { producer: context.producer } : {}),
    },
  };
}

/**
 * Parses a stream entry's `data` back into an event; null when it is not one. Entries in the exact
 * shape the ingest writes skip zod (a cheap check accepts only what zod accepts unchanged); anything
 * else, poison entries included, gets the full check.
 */
export function parseStreamedEvent(data: string | null): AcceptedEvent | null {
  if (data === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  return hasIngestShape(value) ? value : validateStreamedEvent(value);
}

/** The full check of a parsed stream entry (zod): the event it holds, or null. */
export function validateStreamedEvent(value: unknown): AcceptedEvent | null {
  const parsed = streamedEvent.safeParse(value);
  return parsed.success ? (parsed.data as AcceptedEvent) : null;
}

const UUID =
  /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;
/** `Date#toISOString()` output (what the ingest writes), every field in range, the day within its month. */
const ISO_UTC_MS = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
const isIsoUtcMs = (value: unknown): value is string =>
  typeof value === 'string' &&
  ISO_UTC_MS.test(value) &&
  Number(value.slice(8, 10)) <= daysInMonth(Number(value.slice(0, 4)), Number(value.slice(5, 7)));
const isEventType = (value: unknown): value is EventType => (EVENT_TYPES as readonly unknown[]).includes(value);

/**
 * True only for a value `validateStreamedEvent` returns unchanged: exactly the six fields the ingest
 * writes, each of the type and format it writes (a subset of what zod accepts, checked in
 * test/unit/event-contract.test.ts), and properties a plain object without an own `__proto__` key
 * (zod would drop it). Anything else is not an error here, only a reason for the full check.
 */
export function hasIngestShape(value: unknown): value is AcceptedEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const event = value as Record<string, unknown>;
  const properties = event.properties;
  return (
    Object.keys(event).length === 6 &&
    typeof event.event_id === 'string' &&
    UUID.test(event.event_id) &&
    isEventType(event.event_type) &&
    (event.user_id === null || typeof event.user_id === 'string') &&
    isIsoUtcMs(event.timestamp) &&
    isIsoUtcMs(event.received_at) &&
    typeof properties === 'object' &&
    properties !== null &&
    !Array.isArray(properties) &&
    Object.getPrototypeOf(properties) === Object.prototype &&
    !Object.hasOwn(properties, '__proto__')
  );
}

const isoUtc = z.iso.datetime({ offset: true });
const streamedEvent = z.object({
  event_id: z.uuid(),
  event_type: z.enum(EVENT_TYPES),
  user_id: z.nullable(z.string()),
  timestamp: isoUtc,
  properties: z.record(z.string(), z.unknown()),
  received_at: isoUtc,
  // Kept through the stream and the ingest fallback queue, so the fallback drain records it too.
  producer: z.optional(z.string()),
});
