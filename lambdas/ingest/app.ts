// The ingest API: a route table over the core use cases, wrapped in the middy chain. Built from
// already-made dependencies so the Lambda, the local server and tests run the very same code.
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DEFAULT_PRODUCER_LABEL, UNKNOWN_LABEL_VALUE } from '../observability/metric-names.ts';
import { errorResponses } from './error-responses.ts';
import { correlationId, flushMetrics, HttpError, json, normalizeHeaders, requestLogger } from './http.ts';
import { type ProducerIdentity, producerIdentity } from './producer-identity.ts';
import { requireAdmin } from './require-admin.ts';
import type { IngestAppDeps, Route } from './route.ts';
import { postRedrive } from './routes/admin.ts';
import { getEvent, postBatch, postEvent } from './routes/events.ts';
import { getDocs, getDocsAsset, getHealth, getOpenApi, getSummary, SERVICE_VERSION } from './routes/service.ts';

export type { IngestAppDeps } from './route.ts';

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

/**
 * Routes API Gateway serves without an API key (lib/ingest-api.ts), and the admin route, which has its
 * own credential: with PRODUCER_KEYS set, every other route needs a listed x-api-key.
 */
const WITHOUT_PRODUCER_KEY: ReadonlySet<Route> = new Set([getInfo, getOpenApi, getDocs, getDocsAsset, postRedrive]);

/** The producer as metrics label it: the key id or name, "default" without identity, "unknown" for a refused key. */
const producerLabel = (identity: ProducerIdentity): string =>
  identity.kind === 'producer' ? identity.producer : identity.kind === 'anonymous' ? DEFAULT_PRODUCER_LABEL : UNKNOWN_LABEL_VALUE;

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
  const identify = producerIdentity(deps.producerKeys);
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
    const identity = identify(event);
    if (identity.kind === 'unknownKey' && !WITHOUT_PRODUCER_KEY.has(route)) {
      throw new HttpError(403, 'forbidden', 'this route needs the x-api-key of a producer listed in PRODUCER_KEYS');
    }
    return route(
      {
        event,
        headers: normalizeHeaders(event.headers),
        params: { ...params, ...(event.pathParameters ?? {}) } as Record<string, string>,
        producer: identity.kind === 'producer' ? identity.producer : null,
      },
      { ...deps, logger: requestLogger(deps.logger, event) },
    );
  };
  // onError hooks run in reverse: requireAdmin logs its refusal, errorResponses answers, metrics are
  // flushed, the correlation id is put on whatever response was made.
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(correlationId(deps.logger))
    .use(flushMetrics(deps.metrics))
    .use(errorResponses({ logger: deps.logger, metrics: deps.metrics, producerOf: (event) => producerLabel(identify(event)) }))
    .use(requireAdmin({ token: deps.adminToken, logger: deps.logger }))
    .handler(dispatch);
}
