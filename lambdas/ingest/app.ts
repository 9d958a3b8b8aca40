// The ingest API: a route table over the core use cases, wrapped in the middy chain. Built from
// already-made dependencies so the Lambda, the local server and tests run the very same code.
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import * as z from 'zod/mini';
// The generator from source; in Lambda bundles the document built at bundling time (package.json imports).
import { openApiDocument } from '#openapi-document';
import { eventEnvelope, isEventId, MAX_BATCH_EVENTS, MAX_EVENT_BYTES } from '../../schemas/event.ts';
import type { Backpressure } from '../core/backpressure.ts';
import { type IngestDeps, type IngestResult, ingestEvents, validateEach, validateEvents } from '../core/ingest.ts';
import type { IngestBatcher } from '../core/ingest-batcher.ts';
import { checkHealth, type DependencyHealth, getEventStatus, readBacklog } from '../core/queries.ts';
import { redriveFailed } from '../core/redrive.ts';
import type { Logger } from '../ports.ts';
import type { BatchItem } from './contract.ts';
import { readDocsAsset, SWAGGER_PAGE } from './docs-assets.ts';
import { errorResponses } from './error-responses.ts';
import { correlationId, flushMetrics, HttpError, json, normalizeHeaders, requestLogger } from './http.ts';
import { parseBody } from './parse-body.ts';
import { requireAdmin } from './require-admin.ts';

const SINGLE_BODY_BYTES = 2 * MAX_EVENT_BYTES;
const BATCH_BODY_BYTES = 1024 * 1024;
const ADMIN_BODY_BYTES = 64 * 1024;

export interface IngestAppDeps extends IngestDeps {
  readonly logger: Logger;
  /** When set, admin routes accept `x-admin-token: <token>`; IAM-signed requests are accepted anyway. */
  readonly adminToken?: string;
  /** When set, ingest answers 429 while the consumer group is too far behind. */
  readonly backpressure?: Backpressure;
  /** When set (the long-lived local server), single events are written in groups (core/ingest-batcher.ts). */
  readonly groupCommit?: IngestBatcher;
}

/** 429 with Retry-After while the consumer is too far behind (cached stream stats; fails open). */
async function refuseWhileBehind(deps: IngestAppDeps): Promise<void> {
  const throttle = await deps.backpressure?.check();
  if (!throttle) return;
  throw new HttpError(429, 'backpressure', throttle.message, {
    headers: { 'retry-after': String(throttle.retryAfterSeconds) },
  });
}

type Route = (request: RouteRequest, deps: IngestAppDeps) => Promise<APIGatewayProxyResult>;
interface RouteRequest {
  readonly event: APIGatewayProxyEvent;
  readonly headers: Record<string, string>;
  readonly params: Record<string, string>;
}

/** Validates every event (all or nothing), then stores and publishes them; core errors map in errorResponses. */
function acceptAndStore(inputs: readonly unknown[], deps: IngestAppDeps, pathOf: (i: number) => string) {
  return ingestEvents(validateEvents(inputs, { receivedAt: deps.clock.now(), newId: deps.newId, pathOf }), deps);
}

// The envelope is checked here so a bad event is a 400 before anything else; the core checks it again
// (and fills the defaults) because that is its own promise, whoever calls it.
const readEvent = parseBody(eventEnvelope, { maxBytes: SINGLE_BODY_BYTES, subject: 'the event' });

const postEvent: Route = async (request, deps) => {
  await refuseWhileBehind(deps);
  const valid = validateEvents([readEvent(request)], { receivedAt: deps.clock.now(), newId: deps.newId, pathOf: () => '' });
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

const batchBody = z.strictObject(
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
const postBatch: Route = async (request, deps) => {
  await refuseWhileBehind(deps);
  const { events } = readBatch(request);
  const pathOf = (i: number) => `events[${i}]`;
  if (request.event.queryStringParameters?.atomic === 'true') {
    const results = await acceptAndStore(events, deps, pathOf);
    return batchResponse(results.map((result, index) => ({ ...asBatchItem(result), index })));
  }
  const { valid, items } = validateEach(events, { receivedAt: deps.clock.now(), newId: deps.newId, pathOf });
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

const getEvent: Route = async ({ params }, deps) => {
  const id = params.id ?? '';
  if (!isEventId(id)) {
    throw new HttpError(400, 'validation_failed', 'event id must be a UUID', {
      issues: [{ path: 'id', message: 'must be a UUID' }],
    });
  }
  const status = await getEventStatus(deps.sql, id.toLowerCase());
  if (!status) throw new HttpError(404, 'not_found', `no event ${id} was accepted`);
  return json(200, status);
};

/** This service's version, shown by GET / and GET /health (a unit test keeps it equal to package.json's). */
export const SERVICE_VERSION = '0.1.0';

const healthWord = (dependency: DependencyHealth) => (dependency.status === 'up' ? 'healthy' : 'unhealthy');

const getHealth: Route = async (_request, deps) => {
  const health = await checkHealth(deps);
  const body = {
    ...health,
    // The original service's fields, with its meanings (its monitor prints `services`): `redis` is the
    // stream; a resuming database answers no query yet, so it is unhealthy there. Our `status` keeps
    // ok | degraded (README, "Moving from the original").
    services: { database: healthWord(health.dependencies.database), redis: healthWord(health.dependencies.stream) },
    timestamp: deps.clock.now().toISOString(),
    version: SERVICE_VERSION,
  };
  return json(health.status === 'ok' ? 200 : 503, body, health.status === 'ok' ? {} : { 'retry-after': '5' });
};

const getSummary: Route = async (_request, deps) => json(200, await readBacklog(deps.stream, deps.clock.now()));

const redriveBody = z.strictObject(
  {
    event_ids: z.optional(z.array(z.uuid({ error: 'must be a UUID' })).check(z.maxLength(1000, { error: 'at most 1000 ids' }))),
    error_type: z.optional(z.string().check(z.minLength(1))),
    all: z.optional(z.boolean()),
    limit: z.optional(z.int().check(z.gte(1), z.lte(10_000))),
    dry_run: z.optional(z.boolean()),
  },
  {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field: ${issue.keys.join(', ')}` : 'must be a JSON object'),
  },
);

const readRedrive = parseBody(redriveBody, { maxBytes: ADMIN_BODY_BYTES, subject: 'the redrive request' });

/** Admin only: requireAdmin (in the chain) has refused anyone else before this runs. */
const postRedrive: Route = async (request, deps) => {
  const body = readRedrive(request);
  if (!body.event_ids && !body.error_type && !body.all) {
    throw new HttpError(400, 'validation_failed', 'say which failed events to redrive', {
      issues: [{ path: '(body)', message: 'give event_ids, error_type or all: true' }],
    });
  }
  const result = await redriveFailed(deps, {
    eventIds: body.event_ids,
    errorType: body.error_type,
    limit: body.limit ?? 1000,
    dryRun: body.dry_run ?? false,
  });
  return json(200, result);
};

const getInfo: Route = async () =>
  json(200, {
    service: 'eventflow',
    version: SERVICE_VERSION,
    // The original service's `status` (it answered "running" whenever it answered at all).
    status: 'running',
    routes: Object.keys(ROUTES),
    docs: '/docs',
    openapi: '/openapi.json',
  });

const getOpenApi: Route = async () =>
  json(200, openApiDocument({ envelope: eventEnvelope, batch: batchBody, redrive: redriveBody }));
const getDocs: Route = async () => ({
  statusCode: 200,
  headers: { 'content-type': 'text/html; charset=utf-8' },
  body: SWAGGER_PAGE,
});
const getDocsAsset: Route = async ({ params }) => {
  const asset = readDocsAsset(params.asset ?? '');
  if (!asset) throw new HttpError(404, 'not_found', `no docs asset ${params.asset}`);
  return {
    statusCode: 200,
    headers: { 'content-type': asset.contentType, 'cache-control': 'public, max-age=86400' },
    body: asset.body,
  };
};

/** "METHOD /path/{param}" → route. The same table drives the CDK resources' documentation. */
export const ROUTES: Record<string, Route> = {
  'GET /': getInfo,
  'POST /events': postEvent,
  'POST /events/batch': postBatch,
  'GET /events/{id}': getEvent,
  'GET /health': getHealth,
  'GET /metrics/summary': getSummary,
  'GET /openapi.json': getOpenApi,
  'GET /docs': getDocs,
  'GET /docs/{asset}': getDocsAsset,
  'POST /admin/redrive': postRedrive,
};

/** Matches a concrete path against the route table. */
export function matchRoute(method: string, path: string): { route?: Route; params: Record<string, string>; allowed: string[] } {
  const parts = path.replace(/\/+$/, '').split('/').filter(Boolean);
  const allowed: string[] = [];
  for (const [key, route] of Object.entries(ROUTES)) {
    const [routeMethod, routePath = ''] = key.split(' ');
    const routeParts = routePath.split('/').filter(Boolean);
    if (routeParts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const same = routeParts.every((part, i) => {
      const value = parts[i] as string;
      if (part.startsWith('{')) {
        try {
          params[part.slice(1, -1)] = decodeURIComponent(value);
        } catch {
          throw new HttpError(400, 'malformed_path', `path segment "${value}" is not valid percent-encoding`);
        }
        return true;
      }
      return part === value;
    });
    if (!same) continue;
    if (routeMethod === method) return { route, params, allowed: [] };
    allowed.push(routeMethod as string);
  }
  return { params: {}, allowed };
}

/** The API as a Lambda handler over API Gateway REST proxy events. */
export function createIngestApp(deps: IngestAppDeps) {
  const dispatch = async (event: APIGatewayProxyEvent, _context: Context): Promise<APIGatewayProxyResult> => {
    const method = event.httpMethod.toUpperCase();
    // API Gateway names the matched resource template ("/events/{id}"): use it, since `path` carries
    // any custom-domain base path. The local server and proxy resources fall back to matching `path`.
    const declared = ROUTES[`${method} ${event.resource}`];
    const { route, params, allowed } = declared
      ? { route: declared, params: {}, allowed: [] }
      : matchRoute(method, event.path ?? '/');
    if (!route) {
      if (allowed.length > 0) {
        throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${event.path}`, {
          headers: { allow: allowed.join(', ') },
        });
      }
      throw new HttpError(404, 'not_found', `no route for ${method} ${event.path}`);
    }
    return route(
      {
        event,
        headers: normalizeHeaders(event.headers),
        params: { ...params, ...(event.pathParameters ?? {}) } as Record<string, string>,
      },
      { ...deps, logger: requestLogger(deps.logger, event) },
    );
  };
  // onError hooks run in reverse: requireAdmin logs its refusal, errorResponses answers, metrics are
  // flushed, the correlation id is put on whatever response was made.
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(correlationId(deps.logger))
    .use(flushMetrics(deps.metrics))
    .use(errorResponses({ logger: deps.logger, metrics: deps.metrics }))
    .use(requireAdmin({ token: deps.adminToken, logger: deps.logger }))
    .handler(dispatch);
}
