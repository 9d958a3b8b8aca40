// The building blocks of the OpenAPI document: JSON Schema from zod, shared responses and their
// references, and the 405 every routed path answers. Pure data; openapi.ts assembles the paths.
import * as z from 'zod/mini';
import { MAX_PROPERTIES_DEPTH, RESERVED_KEYS } from '../../schemas/event.ts';

export type JsonSchema = Record<string, unknown>;

/** JSON Schema of a zod schema, as OpenAPI 3.1 embeds it (no $schema keyword). */
export function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'throw' }) as JsonSchema;
  return rest;
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const jsonContent = (schema: JsonSchema) => ({ 'application/json': { schema } });

/**
 * `properties` as strict as the server's check (schemas/event.ts propertiesProblem), which zod cannot
 * express: no reserved keys at any level, objects and arrays at most MAX_PROPERTIES_DEPTH deep.
 */
export function propertiesSchemas(): Record<string, JsonSchema> {
  const keys = { type: 'string', not: { enum: [...RESERVED_KEYS] } };
  const scalar = { type: ['string', 'number', 'boolean', 'null'] };
  const schemas: Record<string, JsonSchema> = {
    EventProperties: {
      type: 'object',
      description: `Free-form event data. Keys ${[...RESERVED_KEYS].join(', ')} are refused at every level; objects and arrays nest at most ${MAX_PROPERTIES_DEPTH} deep; text must not hold NUL or unpaired surrogates.`,
      propertyNames: keys,
      additionalProperties: ref('PropertyValueDepth1'),
    },
  };
  for (let depth = 1; depth <= MAX_PROPERTIES_DEPTH; depth++) {
    const inner = depth === MAX_PROPERTIES_DEPTH ? ref('PropertyScalar') : ref(`PropertyValueDepth${depth + 1}`);
    schemas[`PropertyValueDepth${depth}`] = {
      description: `A value nested ${depth} level(s) inside properties.`,
      anyOf: [scalar, { type: 'array', items: inner }, { type: 'object', propertyNames: keys, additionalProperties: inner }],
    };
  }
  schemas.PropertyScalar = {
    description: `A value at the deepest level (${MAX_PROPERTIES_DEPTH + 1}): no objects or arrays.`,
    ...scalar,
  };
  return schemas;
}

/** The request validators the app runs; passed in so this module does not import the app. */
export interface RequestSchemas {
  readonly envelope: z.ZodMiniType;
  readonly batch: z.ZodMiniType;
  readonly redrive: z.ZodMiniType;
}

/** A response whose body is one schema (an error unless said otherwise). */
export const respond = (description: string, schema: JsonSchema = ref('Error'), headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: jsonContent(schema),
});
export const retryAfter = {
  'Retry-After': {
    description: 'Seconds to wait before retrying (retrying with the same event_id is safe).',
    schema: { type: 'integer' },
  },
};
export const errorOrGateway = { anyOf: [ref('Error'), ref('GatewayError')] };

export const RESPONSES = {
  BadRequest: respond('Malformed JSON, or a body or parameter that breaks the contract (each issue names its path).'),
  Forbidden: respond(
    'API Gateway: missing or invalid API key, or (admin) an unsigned request ({message}); the app: no valid admin credential, or (local server with PRODUCER_KEYS) no listed x-api-key ({error, message}).',
    errorOrGateway,
  ),
  NotFound: respond('No such event, asset or route.'),
  Conflict: respond('The event_id was accepted before with a different content.'),
  PayloadTooLarge: respond('The body (or one event in it) is over its size limit.'),
  UnsupportedMediaType: respond('The content-type is not application/json.'),
  TooManyRequests: respond(
    'Throttled by API Gateway (usage plan or route throttle), or backpressure: retry after the given time.',
    errorOrGateway,
    retryAfter,
  ),
  ServiceUnavailable: respond('A dependency (database, stream) is unavailable; retry later.', ref('Error'), retryAfter),
  InternalError: respond('An unexpected failure; no internals are shown.'),
  MethodNotAllowed: respond(
    'Another method than the documented one on this path; the Allow header names the right one.',
    ref('Error'),
    { Allow: { description: 'The methods this path has.', schema: { type: 'string' } } },
  ),
  UnknownResource: respond(
    'On the deployed API, API Gateway answers 403 for a path it does not route ({message}).',
    ref('GatewayError'),
  ),
};
export type ResponseName = keyof typeof RESPONSES;
export const use = (...names: Array<[status: number, name: ResponseName]>) =>
  Object.fromEntries(names.map(([status, name]) => [String(status), { $ref: `#/components/responses/${name}` }]));

export const writeErrors = use(
  [400, 'BadRequest'],
  [403, 'Forbidden'],
  [413, 'PayloadTooLarge'],
  [415, 'UnsupportedMediaType'],
  [429, 'TooManyRequests'],
  [500, 'InternalError'],
  [503, 'ServiceUnavailable'],
);

export type Operation = { operationId: string; responses: Record<string, unknown>; [field: string]: unknown };

/**
 * Every path the app routes answers 405 to the methods it lacks (not /metrics: that is the local
 * server's own route). Responses are then listed in status order.
 */
export function withMethodNotAllowed(paths: Record<string, Record<string, Operation>>) {
  for (const [path, item] of Object.entries(paths)) {
    for (const operation of Object.values(item)) {
      if (path !== '/metrics') operation.responses['405'] = { $ref: '#/components/responses/MethodNotAllowed' };
      operation.responses = Object.fromEntries(Object.entries(operation.responses).sort(([a], [b]) => a.localeCompare(b)));
    }
  }
  return paths;
}
