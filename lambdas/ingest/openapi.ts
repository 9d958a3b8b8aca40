import { EVENT_TYPES, MAX_BATCH_EVENTS, MAX_EVENT_BYTES } from '../../schemas/event.ts';
import {
  acceptedResponse,
  backlogResponse,
  batchResponse,
  errorResponse,
  eventStatusResponse,
  gatewayResponse,
  healthResponse,
  infoResponse,
  redriveResponse,
} from './contract.ts';
import { DOCS_ASSETS } from './docs-assets.ts';
import {
  jsonContent,
  jsonSchema,
  propertiesSchemas,
  RESPONSES,
  type RequestSchemas,
  ref,
  respond,
  retryAfter,
  use,
  withMethodNotAllowed,
  writeErrors,
} from './openapi-parts.ts';

function buildDocument(request: RequestSchemas): Record<string, unknown> {
  const event = jsonSchema(request.envelope, 'input') as { properties: Record<string, unknown> };
  event.properties.properties = ref('EventProperties');
  const batch = jsonSchema(request.batch, 'input') as { properties: { events: Record<string, unknown> } };
  batch.properties.events.items = ref('Event');

  return {
    openapi: '3.1.0',
    info: {
      title: 'EventFlow ingest API',
      version: '1.0.0',
      summary: 'Accept events durably; read their outcome, the backlog and the health of the pipeline.',
      description: [
        `Events up to ${MAX_EVENT_BYTES} bytes; event_type one of ${EVENT_TYPES.join(', ')}. A 202 means the event is stored durably and will get exactly one outcome.`,
        'Any route answers 405 (with an Allow header) for a method it does not have, and 404 for a path the app does not route (on the deployed API, API Gateway answers 403 for unknown paths).',
      ].join('\n\n'),
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    // Relative to this document, so "Try it out" keeps the API Gateway stage prefix (/v1).
    servers: [{ url: '.', description: 'this API (relative to /openapi.json)' }],
    tags: [
      { name: 'events', description: 'Send events and read their outcome.' },
      { name: 'operations', description: 'Health, backlog and metrics for operators and monitors.' },
      { name: 'admin', description: 'Dead-letter redrive; needs the admin credential.' },
      { name: 'meta', description: 'This description, its docs page and the service info.' },
    ],
    security: [{ apiKey: [] }],
    components: {
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'x-api-key',
          description:
            "A producer's API key (checked by API Gateway; by the local server when PRODUCER_KEYS is set). It names the producer each event records: GET /events/{id} answers only for the same producer's events.",
        },
        adminToken: {
          type: 'apiKey',
          in: 'header',
          name: 'x-admin-token',
          description: 'Admin token (ADMIN_TOKEN), accepted by the app on admin routes; the local server uses this.',
        },
        iamSigV4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            'AWS Signature Version 4 with IAM credentials allowed execute-api:Invoke on the admin route (deployed API).',
        },
      },
      schemas: {
        Event: event,
        ...propertiesSchemas(),
        BatchRequest: batch,
        RedriveRequest: {
          ...jsonSchema(request.redrive, 'input'),
          // The handler's own rule after parsing: say which failed events (app.ts postRedrive).
          anyOf: [
            { required: ['event_ids'] },
            { required: ['error_type'] },
            { required: ['all'], properties: { all: { const: true } } },
          ],
        },
        Error: jsonSchema(errorResponse, 'output'),
        GatewayError: jsonSchema(gatewayResponse, 'output'),
        Accepted: jsonSchema(acceptedResponse, 'output'),
        BatchResult: jsonSchema(batchResponse, 'output'),
        EventStatus: jsonSchema(eventStatusResponse, 'output'),
        Health: jsonSchema(healthResponse, 'output'),
        BacklogSummary: jsonSchema(backlogResponse, 'output'),
        RedriveResult: jsonSchema(redriveResponse, 'output'),
        ServiceInfo: jsonSchema(infoResponse, 'output'),
      },
      responses: RESPONSES,
    },
    paths: withMethodNotAllowed({
      '/': {
        get: {
          operationId: 'getServiceInfo',
          tags: ['meta'],
          summary: 'Service name, routes and where the docs are',
          security: [],
          responses: { '200': respond('Service info.', ref('ServiceInfo')), ...use([429, 'TooManyRequests']) },
        },
      },
      '/events': {
        post: {
          operationId: 'postEvent',
          tags: ['events'],
          summary: 'Accept one event',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: ref('Event'),
                example: { event_type: 'purchase', user_id: 'user-42', properties: { amount: 99.5, currency: 'EUR' } },
              },
            },
          },
          responses: {
            '202': respond(
              'Accepted: stored durably, will be processed once. Resending it is safe (duplicate: true).',
              ref('Accepted'),
            ),
            ...writeErrors,
            ...use([409, 'Conflict']),
          },
        },
      },
      '/events/batch': {
        post: {
          operationId: 'postEventBatch',
          tags: ['events'],
          summary: `Accept up to ${MAX_BATCH_EVENTS} events`,
          requestBody: { required: true, content: jsonContent(ref('BatchRequest')) },
          responses: {
            '202': respond('All accepted.', ref('BatchResult')),
            '207': respond('Some were not accepted (each result says why); resend only those.', ref('BatchResult')),
            ...writeErrors,
          },
        },
      },
      '/events/{id}': {
        get: {
          operationId: 'getEventStatus',
          tags: ['events'],
          summary: 'Status of one event: accepted, processed or failed',
          description:
            "Only for events sent with a key of the same producer (or recorded without a producer): another producer's event is a 404, like an unknown id.",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': respond('The event and its outcome so far.', ref('EventStatus')),
            ...use(
              [400, 'BadRequest'],
              [403, 'Forbidden'],
              [404, 'NotFound'],
              [429, 'TooManyRequests'],
              [500, 'InternalError'],
              [503, 'ServiceUnavailable'],
            ),
          },
        },
      },
      '/health': {
        get: {
          operationId: 'getHealth',
          tags: ['operations'],
          summary: 'Dependency status and latency',
          responses: {
            '200': respond(
              'Every dependency is up (a resuming database counts: writes go to the fallback queue).',
              ref('Health'),
            ),
            ...use([403, 'Forbidden'], [429, 'TooManyRequests'], [500, 'InternalError']),
            '503': respond('Degraded: a dependency is down.', ref('Health'), retryAfter),
          },
        },
      },
      '/metrics/summary': {
        get: {
          operationId: 'getBacklogSummary',
          tags: ['operations'],
          summary: 'Backlog: stream length, lag, pending, oldest pending age',
          responses: {
            '200': respond('The consumer group backlog now.', ref('BacklogSummary')),
            ...use([403, 'Forbidden'], [429, 'TooManyRequests'], [500, 'InternalError'], [503, 'ServiceUnavailable']),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getPrometheusMetrics',
          tags: ['operations'],
          summary: 'Prometheus metrics (local server only)',
          description:
            'Served by the local server (npm start) only; the deployed API publishes CloudWatch metrics (EMF) instead.',
          security: [],
          responses: {
            '200': {
              description: 'Prometheus text exposition format.',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
            ...use([403, 'UnknownResource']),
          },
        },
      },
      '/admin/redrive': {
        post: {
          operationId: 'redriveFailedEvents',
          tags: ['admin'],
          summary: 'Replay dead-lettered events',
          description: 'Deployed: API key and an IAM-signed (SigV4) request. Locally: the x-admin-token header.',
          security: [{ apiKey: [], iamSigV4: [] }, { adminToken: [] }],
          requestBody: { required: true, content: jsonContent(ref('RedriveRequest')) },
          responses: {
            '200': respond('The events reopened and re-published (or, dry_run, that would be).', ref('RedriveResult')),
            ...writeErrors,
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['meta'],
          summary: 'This description',
          security: [],
          responses: {
            '200': respond('The OpenAPI 3.1 document.', {
              type: 'object',
              required: ['openapi', 'paths'],
              properties: { openapi: { type: 'string' }, paths: { type: 'object' } },
            }),
            ...use([429, 'TooManyRequests']),
          },
        },
      },
      '/docs': {
        get: {
          operationId: 'getDocsPage',
          tags: ['meta'],
          summary: 'Swagger UI for this description (works offline)',
          security: [],
          responses: {
            '200': { description: 'The Swagger UI page.', content: { 'text/html': { schema: { type: 'string' } } } },
            ...use([429, 'TooManyRequests']),
          },
        },
      },
      '/docs/{asset}': {
        get: {
          operationId: 'getDocsAsset',
          tags: ['meta'],
          summary: 'A Swagger UI script or style sheet',
          security: [],
          parameters: [{ name: 'asset', in: 'path', required: true, schema: { type: 'string', enum: Object.keys(DOCS_ASSETS) } }],
          responses: {
            '200': {
              description: 'The file, from the pinned swagger-ui-dist package.',
              content: { 'text/css': { schema: { type: 'string' } }, 'text/javascript': { schema: { type: 'string' } } },
            },
            ...use([404, 'NotFound'], [429, 'TooManyRequests']),
          },
        },
      },
    }),
  };
}

let built: { request: RequestSchemas; document: Record<string, unknown> } | undefined;

/** The document for the given validators (built once; it is the same for every request). */
export function openApiDocument(request: RequestSchemas): Record<string, unknown> {
  const same = built && (Object.keys(request) as Array<keyof RequestSchemas>).every((k) => built?.request[k] === request[k]);
  if (!same || !built) built = { request, document: buildDocument(request) };
  return built.document;
}
