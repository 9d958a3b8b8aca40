// The ingest API's response bodies as zod schemas, each checked at compile time against the type
// its handler returns, so the OpenAPI document (built from these) cannot drift from the code. Pure.
import * as z from 'zod/mini';
import type { BacklogSummary, EventStatus, Health } from '../core/queries.ts';
import type { RedriveResult } from '../core/redrive.ts';

/** Compile-time: A and B are the same type (each assignable to the other). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(check: Same<A, B>) => check;
/** Drops `readonly` so zod's mutable output compares with the readonly domain types. */
type Mutable<T> = T extends readonly (infer U)[]
  ? Mutable<U>[]
  : T extends object
    ? { -readonly [K in keyof T]: Mutable<T[K]> }
    : T;

const isoDateTime = z.string().check(z.meta({ format: 'date-time' }));
const uuid = z.string().check(z.meta({ format: 'uuid' }));

export const issue = z.object({
  path: z
    .string()
    .check(z.meta({ description: 'dotted path of the field, e.g. events[2].event_type; (body) for the whole body' })),
  message: z.string(),
});

/** Every error the app answers (http.ts httpErrors): a code, a message, and for 400s the issues. */
export const errorResponse = z.object({
  error: z.string().check(z.meta({ description: 'machine-readable code, e.g. validation_failed, event_too_large' })),
  message: z.string(),
  issues: z.optional(z.array(issue)),
  path: z.optional(z.string().check(z.meta({ description: 'the event that was too large (413 in a batch)' }))),
});

/** What API Gateway itself answers (missing/invalid API key, throttling) before the app runs. */
export const gatewayResponse = z.object({ message: z.string() });

export const acceptedResponse = z.object({
  event_id: uuid,
  status: z.literal('accepted'),
  received_at: isoDateTime,
  duplicate: z.boolean().check(z.meta({ description: 'true when this event_id was accepted before with the same content' })),
});

const itemIndex = z.int().check(z.gte(0), z.meta({ description: 'the item position in the request events array' }));

/** One batch item's answer; app.ts builds exactly this type. */
export const batchItemResult = z.union([
  z.object({ index: itemIndex, event_id: uuid, status: z.literal('accepted'), received_at: isoDateTime, duplicate: z.boolean() }),
  z.object({
    index: itemIndex,
    event_id: uuid,
    status: z.literal('duplicate').check(z.meta({ description: 'accepted before with the same content: resending is safe' })),
    received_at: isoDateTime,
  }),
  z.object({ index: itemIndex, event_id: uuid, status: z.literal('conflict'), message: z.string() }),
  z.object({
    index: itemIndex,
    status: z.literal('rejected'),
    event_id: z.nullable(uuid).check(z.meta({ description: 'the event_id the item named, when it named a valid one' })),
    issues: z.array(issue),
  }),
]);
export type BatchItem = z.output<typeof batchItemResult>;

const count = z.int().check(z.gte(0));
export const batchResponse = z.object({
  accepted: count,
  duplicates: count,
  conflicts: count,
  rejected: count,
  results: z.array(batchItemResult),
});

export const eventStatusResponse = z.object({
  event_id: uuid,
  event_type: z.nullable(z.string()),
  status: z.enum(['accepted', 'processed', 'failed']),
  received_at: isoDateTime,
  processed_at: z.optional(isoDateTime),
  failed_at: z.optional(isoDateTime),
  attempts: z.optional(z.number()),
  enriched_data: z.optional(z.unknown()),
  error: z.optional(z.object({ type: z.string(), message: z.string() })),
  replay: z.optional(z.object({ count: z.number(), last_at: z.nullable(isoDateTime) })),
});
same<Mutable<EventStatus>, z.output<typeof eventStatusResponse>>(true);

const dependencyHealth = z.object({
  status: z.enum(['up', 'down', 'resuming']),
  latency_ms: z.number(),
  error: z.optional(z.string()),
});

const originalHealthWord = z.enum(['healthy', 'unhealthy']);
/** The original service's /health fields (SEED-API), answered beside ours. */
const ORIGINAL_HEALTH_FIELDS = ['services', 'timestamp', 'version'] as const;

export const healthResponse = z.object({
  status: z.enum(['ok', 'degraded']),
  dependencies: z.object({ database: dependencyHealth, stream: dependencyHealth }),
  services: z
    .object({ database: originalHealthWord, redis: originalHealthWord })
    .check(z.meta({ description: "the original service's field: each dependency healthy or unhealthy (redis is the stream)" })),
  timestamp: isoDateTime.check(z.meta({ description: "the original service's field: when this was checked" })),
  version: z.string().check(z.meta({ description: "the original service's field: this service's version" })),
});
same<Mutable<Health>, Omit<z.output<typeof healthResponse>, (typeof ORIGINAL_HEALTH_FIELDS)[number]>>(true);

export const backlogResponse = z.object({
  stream_length: z.number(),
  lag: z.nullable(z.number()),
  pending: z.number(),
  queue_depth: z.number(),
  oldest_pending_age_seconds: z.nullable(z.number()),
  consumers_live: z.number(),
  consumers_total: z.number(),
  group_exists: z.boolean(),
  queue_length: z.number().check(z.meta({ description: "the original service's field: XLEN of the stream" })),
  pending_messages: z.number().check(z.meta({ description: "the original service's field: the group's XPENDING count" })),
  timestamp: isoDateTime,
});
same<Mutable<BacklogSummary>, z.output<typeof backlogResponse>>(true);

export const redriveResponse = z.object({
  dry_run: z.boolean(),
  event_ids: z.array(uuid),
  candidates: z.optional(
    z.array(
      z.object({
        event_id: uuid,
        error_type: z.string(),
        error_message: z.string(),
        attempts: z.number(),
        failed_at: z.string(),
      }),
    ),
  ),
  publish_deferred: z.number(),
});
same<Mutable<RedriveResult>, z.output<typeof redriveResponse>>(true);

export const infoResponse = z.object({
  service: z.string(),
  version: z.string(),
  status: z.literal('running').check(z.meta({ description: "the original service's field" })),
  routes: z.array(z.string()),
  docs: z.string(),
  openapi: z.string(),
});
