// The service's own routes: health, backlog summary, and the API's documentation (OpenAPI, Swagger UI).

// The generator from source; in Lambda bundles the document built at bundling time (package.json imports).
import { openApiDocument } from '#openapi-document';
import { eventEnvelope } from '../../../schemas/event.ts';
import { checkHealth, type DependencyHealth, readBacklog } from '../../core/queries.ts';
import { readDocsAsset, SWAGGER_PAGE } from '../docs-assets.ts';
import { HttpError, json } from '../http.ts';
import type { Route } from '../route.ts';
import { redriveBody } from './admin.ts';
import { batchBody } from './events.ts';

/** This service's version, shown by GET / and GET /health (a unit test keeps it equal to package.json's). */
export const SERVICE_VERSION = '0.1.0';

const healthWord = (dependency: DependencyHealth) => (dependency.status === 'up' ? 'healthy' : 'unhealthy');

export const getHealth: Route = async (_request, deps) => {
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

export const getSummary: Route = async (_request, deps) => json(200, await readBacklog(deps.stream, deps.clock.now()));

export const getOpenApi: Route = async () =>
  json(200, openApiDocument({ envelope: eventEnvelope, batch: batchBody, redrive: redriveBody }));
export const getDocs: Route = async () => ({
  statusCode: 200,
  headers: { 'content-type': 'text/html; charset=utf-8' },
  body: SWAGGER_PAGE,
});
export const getDocsAsset: Route = async ({ params }) => {
  const asset = readDocsAsset(params.asset ?? '');
  if (!asset) throw new HttpError(404, 'not_found', `no docs asset ${params.asset}`);
  return {
    statusCode: 200,
    headers: { 'content-type': asset.contentType, 'cache-control': 'public, max-age=86400' },
    body: asset.body,
  };
};
