// The event routes: POST /events, POST /events/batch (per-item answers) and GET /events/{id}.
// Validation, storage and publishing are the core's; this maps them to HTTP.
import type { APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod/mini';
import { eventEnvelope, isEventId, MAX_BATCH_EVENTS, MAX_EVENT_BYTES } from '../../../schemas/event.ts';
import { type IngestResult, ingestEvents, validateEach, validateEvents } from '../../core/ingest.ts';
import { getEventStatus } from '../../core/queries.ts';
import type { BatchItem } from '../contract.ts';
import { HttpError, json } from '../http.ts';
import { parseBody } from '../parse-body.ts';
import type { IngestAppDeps, Route, RouteRequest } from '../route.ts';

const SINGLE_BODY_BYTES = 2 * MAX_EVENT_BYTES;
const BATCH_BODY_BYTES = 1024 * 1024;

/** 429 with Retry-After while the consumer is too far behind (cached stream stats; fails open). */
async function refuseWhileBehind(deps: IngestAppDeps): Promise<void> {
  const throttle = await deps.backpressure?.check();
  if (!throttle) return;
  throw new HttpError(429, 'backpressure', throttle.message, {
    headers: { 'retry-after': String(throttle.retryAfterSeconds) },
  });
}

/** Validates every event (all or nothing), then stores and publishes them; core errors map in errorResponses. */
function acceptAndStore(inputs: readonly unknown[], request: RouteRequest, deps: IngestAppDeps, pathOf: (i: number) => string) {
  return ingestEvents(validateEvents(inputs, validationContext(request, deps, pathOf)), deps);
}

const validationContext = (request: RouteRequest, deps: IngestAppDeps, pathOf: (i: number) => string) => ({
  receivedAt: deps.clock.now(),
  newId: deps.newId,
  pathOf,
  producer: request.producer,
});

// The envelope is checked here so a bad event is a 400 before anything else; the core checks it again
// (and fills the defaults) because that is its own promise, whoever calls it.
const readEvent = parseBody(eventEnvelope, { maxBytes: SINGLE_BODY_BYTES, subject: 'the event' });

export const postEvent: Route = async (request, deps) => {
  await refuseWhileBehind(deps);
  const valid = validateEvents(
    [readEvent(request)],
    validationContext(request, deps, () => ''),
  );
  // The local server writes concurrent single events in groups; the Lambda serves one request per call.
  const [result] = await (deps.groupCommit ? deps.groupCommit.ingest(valid, deps) : ingestEvents(valid, deps));
  if (!result) throw new Error('ingest returned no result');
  if (result.status === 'conflict') {
    throw new HttpError(409, 'event_id_conflict', `${result.event_id}: ${result.message}`);
  }
  return json(202, {
    event_id: result.event_id,
    status: 'accepted',
    received_at: result.received_at,
    duplicate: result.duplicate,
  });
};

export const batchBody = z.strictObject(
  {
    events: z
      .array(z.unknown(), { error: 'must be an array of events' })
      .check(
        z.minLength(1, { error: 'must hold at least one event' }),
        z.maxLength(MAX_BATCH_EVENTS, { error: `must hold at most ${MAX_BATCH_EVENTS} events` }),
      ),
  },
  {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field: ${issue.keys.join(', ')}` : 'must be a JSON object'),
  },
);

const readBatch = parseBody(batchBody, { maxBytes: BATCH_BODY_BYTES, subject: 'the batch' });

/**
 * Each item answered on its own: accepted, duplicate (already accepted; resending is safe), conflict
 * (the event_id names another event) or rejected (with its issues). Valid items are stored even when
 * others are not, so a producer resends only the failed ones. `?atomic=true` keeps all or nothing.
 */
export const postBatch: Route = async (request, deps) => {
  await refuseWhileBehind(deps);
  const { events } = readBatch(request);
  const pathOf = (i: number) => `events[${i}]`;
  if (request.event.queryStringParameters?.atomic === 'true') {
    const results = await acceptAndStore(events, request, deps, pathOf);
    return batchResponse(results.map((result, index) => ({ ...asBatchItem(result), index })));
  }
  const { valid, items } = validateEach(events, validationContext(request, deps, pathOf));
  const stored = valid.events.length > 0 ? await ingestEvents(valid, deps) : [];
  return batchResponse(
    items.map((item, index): BatchItem => {
      if ('issues' in item) return { status: 'rejected', event_id: item.event_id, issues: item.issues, index };
      return { ...asBatchItem(stored[item.index] as IngestResult), index };
    }),
  );
};

const asBatchItem = (result: IngestResult) =>
  result.status === 'accepted' && result.duplicate
    ? ({ event_id: result.event_id, status: 'duplicate', received_at: result.received_at } as const)
    : result;

/** 202 when every item is accepted (or a duplicate); 400 when nothing could be; 207 for a mix. */
function batchResponse(results: BatchItem[]): APIGatewayProxyResult {
  const count = (status: BatchItem['status']) => results.filter((r) => r.status === status).length;
  const summary = {
    accepted: count('accepted'),
    duplicates: count('duplicate'),
    conflicts: count('conflict'),
    rejected: count('rejected'),
  };
  const ok = summary.accepted + summary.duplicates;
  if (ok === 0 && summary.rejected === results.length) {
    throw new HttpError(400, 'validation_failed', 'no event in the batch matches the contract', {
      issues: results.flatMap((r) => ('issues' in r ? r.issues : [])),
    });
  }
  return json(ok === results.length ? 202 : 207, { ...summary, results });
}

export const getEvent: Route = async ({ params, producer }, deps) => {
  const id = params.id ?? '';
  if (!isEventId(id)) {
    throw new HttpError(400, 'validation_failed', 'event id must be a UUID', {
      issues: [{ path: 'id', message: 'must be a UUID' }],
    });
  }
  // Another producer's event is answered exactly like one that does not exist.
  const status = await getEventStatus(deps.sql, id.toLowerCase(), { producer });
  if (!status) throw new HttpError(404, 'not_found', `no event ${id} was accepted`);
  return json(200, status);
};
