// The OpenAPI description of the ingest API, with the event schema generated from the zod contract
// so the docs cannot disagree with validation. Pure data; served by GET /openapi.json and /docs.
import * as z from 'zod/mini';
import { EVENT_TYPES, MAX_EVENT_BYTES } from '../../schemas/event.ts';

const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'machine-readable code, e.g. validation_failed' },
    message: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
};

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [String(code), { description: String(code), content: { 'application/json': { schema: errorBody } } }]),
  );

export function openApiDocument(envelope: z.ZodMiniType): Record<string, unknown> {
  const eventSchema = z.toJSONSchema(envelope, { unrepresentable: 'any', target: 'openapi-3.0' });
  return {
    openapi: '3.0.3',
    info: {
      title: 'EventFlow ingest API',
      version: '1',
      description: `Events up to ${MAX_EVENT_BYTES} bytes; event_type one of ${EVENT_TYPES.join(', ')}. 202 means stored durably.`,
    },
    // Relative to this document, so "Try it out" keeps the API Gateway stage prefix (/v1).
    servers: [{ url: './' }],
    components: {
      schemas: { Event: eventSchema, Error: errorBody },
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/events': {
        post: {
          summary: 'Accept one event',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Event' } } } },
          responses: {
            '202': { description: 'accepted: stored durably, will be processed once' },
            ...errors(400, 409, 413, 415, 503),
          },
        },
      },
      '/events/batch': {
        post: {
          summary: 'Accept up to 100 events (all validated before any is stored)',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { events: { type: 'array', maxItems: 100, items: { $ref: '#/components/schemas/Event' } } },
                },
              },
            },
          },
          responses: {
            '202': { description: 'all accepted' },
            '207': { description: 'some event_ids conflicted' },
            ...errors(400, 413, 415, 503),
          },
        },
      },
      '/events/{id}': {
        get: {
          summary: 'Status of one event: accepted, processed or failed',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: { '200': { description: 'status' }, ...errors(400, 404, 503) },
        },
      },
      '/health': {
        get: {
          summary: 'Dependency status and latency',
          security: [],
          responses: { '200': { description: 'ok' }, '503': { description: 'degraded' } },
        },
      },
      '/metrics/summary': {
        get: {
          summary: 'Backlog: stream length, lag, pending, oldest pending age',
          responses: { '200': { description: 'summary' } },
        },
      },
      '/admin/redrive': {
        post: {
          summary: 'Replay dead-lettered events (IAM-signed, or x-admin-token locally)',
          responses: { '200': { description: 'reopened ids' }, ...errors(400, 403) },
        },
      },
    },
  };
}

/** Swagger UI page; the browser loads the UI from a CDN and the spec from this API. */
export const SWAGGER_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>EventFlow API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: 'openapi.json', dom_id: '#ui' });</script>
<noscript>The machine-readable description is at <a href="openapi.json">openapi.json</a>.</noscript>
</body></html>`;
