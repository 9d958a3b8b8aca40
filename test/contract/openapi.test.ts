// The OpenAPI document as the contract: each documented case is sent to the running app (in-process,
// real Postgres and Redis) and its status, headers and body are checked against the document with
// ajv. An answer the document does not describe fails; so does a documented answer no case reaches
// (unless listed below with the reason it cannot be reached in-process). Request bodies are checked
// both ways: the document accepts exactly what the server accepts.
import { setTimeout as sleep } from 'node:timers/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { startLocalStack } from '../../scripts/lib/local-stack.ts';
import { type OpenAdapters, openAdapters } from '../support/adapters.ts';
import { purchase } from '../support/events.ts';
import { createTestPipeline } from '../support/pipeline.ts';
import { createTestDatabase, deleteStreamKeys, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';
import { type Switch, switchableSql, switchableStream } from '../support/switchable.ts';

type Json = Record<string, unknown>;
type Response = { status: number; headers: Record<string, unknown>; body: unknown };

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const SCHEMA_BASE = 'https://eventflow.test/schemas/';
const ADMIN_TOKEN = 'contract-admin-token';

/**
 * Documented answers no in-process case can produce, and why. Everything else documented must be
 * reached by a case below.
 */
const UNREACHABLE_IN_PROCESS: Record<string, string> = {
  'getPrometheusMetrics 403': 'API Gateway answers it on the deployed API (no such resource)',
  ...Object.fromEntries(
    [
      'getServiceInfo',
      'getEventStatus',
      'getHealth',
      'getBacklogSummary',
      'redriveFailedEvents',
      'getOpenApiDocument',
      'getDocsPage',
      'getDocsAsset',
    ].map((id) => [`${id} 429`, 'API Gateway throttling (usage plan, route throttle)']),
  ),
  ...Object.fromEntries(
    ['postEvent', 'postEventBatch', 'getEventStatus', 'getHealth', 'getBacklogSummary', 'redriveFailedEvents'].map((id) => [
      `${id} 500`,
      'an unexpected failure (a bug); its shape is checked by the http.ts unit tests',
    ]),
  ),
};

let db: TestDatabase;
let adapters: OpenAdapters;
let sql: SqlExecutor & Switch;
let stream: EventStream & Switch;
let streamKey: string;
let pipeline: ReturnType<typeof createTestPipeline>;
let doc: Json & { paths: Record<string, Record<string, Json>>; components: Json & { responses: Record<string, Json> } };
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false }));
const operations = new Map<string, { path: string; method: string; operation: Json }>();
const exercised = new Set<string>();

/** A copy with local refs (#/components/schemas/X) pointing at the schemas added to ajv. */
function absolute(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absolute);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' ? value.replace('#/components/schemas/', SCHEMA_BASE) : absolute(value),
    ]),
  );
}

const validators = new Map<string, ReturnType<Ajv2020['compile']>>();
function validatorFor(schema: unknown) {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(absolute(schema) as Json);
    validators.set(key, validate);
  }
  return validate;
}
const componentValidator = (name: string) => validatorFor({ $ref: `#/components/schemas/${name}` });

/** Checks one answer against the document's description of `operationId`. */
function expectDocumented(operationId: string, response: Response): void {
  const entry = operations.get(operationId);
  if (!entry) throw new Error(`no operation ${operationId} in the document`);
  const documented = (entry.operation.responses as Record<string, Json>)[String(response.status)];
  expect(documented, `${operationId} answered ${response.status}, which the document does not describe`).toBeDefined();
  const ref = documented?.$ref as string | undefined;
  const described = ref ? doc.components.responses[ref.split('/').pop() as string] : documented;
  if (!described) throw new Error(`dangling ${ref}`);

  const contentType = String(response.headers['content-type'] ?? '').split(';')[0] as string;
  const media = (described.content as Record<string, Json> | undefined)?.[contentType];
  expect(media, `${operationId} ${response.status}: content-type ${contentType} is not documented`).toBeDefined();
  if (contentType === 'application/json') {
    const validate = validatorFor(media?.schema);
    const valid = validate(response.body);
    expect(valid, `${operationId} ${response.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(response.body)}`).toBe(
      true,
    );
  }
  for (const header of Object.keys((described.headers as Json | undefined) ?? {})) {
    expect(response.headers[header.toLowerCase()], `${operationId} ${response.status}: header ${header}`).toBeDefined();
  }
  exercised.add(`${operationId} ${response.status}`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  streamKey = uniqueName('events');
  adapters = await openAdapters('pg+ioredis', db.url, streamKey);
  sql = switchableSql(adapters.sql);
  stream = switchableStream(adapters.stream);
  await stream.ensureGroup();
  pipeline = createTestPipeline({ sql, stream, adminToken: ADMIN_TOKEN });

  const served = await pipeline.call('GET', '/openapi.json');
  doc = served.body as typeof doc;
  for (const [name, schema] of Object.entries((doc.components.schemas ?? {}) as Record<string, Json>)) {
    ajv.addSchema(absolute(schema) as Json, `${SCHEMA_BASE}${name}`);
  }
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item))
      operations.set(operation.operationId as string, { path, method, operation });
  }
  expectDocumented('getOpenApiDocument', served);
});

afterAll(async () => {
  await deleteStreamKeys(streamKey);
  await adapters?.close();
  await db?.drop();
});

const text = { 'Content-Type': 'text/plain' };

/** The routes a producer calls (each behind x-api-key under PRODUCER_KEYS), with a fresh body where one is sent. */
const producerRoutes = () =>
  [
    ['postEvent', 'POST', '/events', purchase()],
    ['postEventBatch', 'POST', '/events/batch', { events: [purchase()] }],
    ['getEventStatus', 'GET', '/events/7f1e0c1a-0000-4000-8000-000000000000', undefined],
    ['getHealth', 'GET', '/health', undefined],
    ['getBacklogSummary', 'GET', '/metrics/summary', undefined],
  ] as const;

describe('every documented answer the app gives conforms to the document', () => {
  it('meta: service info, the docs page and its assets', async () => {
    expectDocumented('getServiceInfo', await pipeline.call('GET', '/'));
    expectDocumented('getDocsPage', await pipeline.call('GET', '/docs'));
    const css = await pipeline.call('GET', '/docs/swagger-ui.css');
    expect(css.body).toContain('.swagger-ui');
    expectDocumented('getDocsAsset', css);
    expectDocumented('getDocsAsset', await pipeline.call('GET', '/docs/swagger-ui-bundle.js'));
    expectDocumented('getDocsAsset', await pipeline.call('GET', '/docs/package.json'));
    expectDocumented('getDocsAsset', await pipeline.call('GET', '/docs/..%2F..%2Fpackage.json'));
  });

  it('POST /events: 202, duplicate 202, 409, 400, 413, 415', async () => {
    const event = purchase();
    const accepted = await pipeline.call('POST', '/events', { body: event });
    expect(accepted.status).toBe(202);
    expectDocumented('postEvent', accepted);
    expectDocumented('postEvent', await pipeline.call('POST', '/events', { body: event }));
    const conflict = await pipeline.call('POST', '/events', { body: { ...event, user_id: 'someone-else' } });
    expect(conflict.status).toBe(409);
    expectDocumented('postEvent', conflict);
    expectDocumented('postEvent', await pipeline.call('POST', '/events', { body: { event_type: 'nope' } }));
    expectDocumented('postEvent', await pipeline.call('POST', '/events', { rawBody: '{"event_type":' }));
    const big = await pipeline.call('POST', '/events', {
      body: purchase({ properties: { amount: 1, blob: 'x'.repeat(70_000) } }),
    });
    expect(big.status).toBe(413);
    expectDocumented('postEvent', big);
    const wrongType = await pipeline.call('POST', '/events', { rawBody: '{}', headers: text });
    expect(wrongType.status).toBe(415);
    expectDocumented('postEvent', wrongType);
  });

  it('POST /events/batch: 202, 207, 400, 413, 415', async () => {
    const first = purchase();
    expectDocumented('postEventBatch', await pipeline.call('POST', '/events/batch', { body: { events: [first, purchase()] } }));
    const mixed = await pipeline.call('POST', '/events/batch', {
      body: { events: [{ ...first, user_id: 'other' }, purchase()] },
    });
    expect(mixed.status).toBe(207);
    expectDocumented('postEventBatch', mixed);
    const withRejected = await pipeline.call('POST', '/events/batch', {
      body: { events: [first, { event_type: 'refund' }, purchase()] },
    });
    expect(withRejected.status).toBe(207);
    expect(withRejected.body).toMatchObject({ accepted: 1, duplicates: 1, rejected: 1 });
    expectDocumented('postEventBatch', withRejected);
    expectDocumented('postEventBatch', await pipeline.call('POST', '/events/batch', { body: { events: [] } }));
    const huge = await pipeline.call('POST', '/events/batch', { rawBody: JSON.stringify({ events: ['x'.repeat(1_100_000)] }) });
    expect(huge.status).toBe(413);
    expectDocumented('postEventBatch', huge);
    expectDocumented('postEventBatch', await pipeline.call('POST', '/events/batch', { rawBody: '{}', headers: text }));
  });

  it('POST /events and /events/batch: 429 with Retry-After while the consumer is behind', async () => {
    const behind = createTestPipeline({ sql, stream, backpressure: { maxLag: 1, maxAgeMs: 0, statsTtlMs: 100 } });
    await behind.call('POST', '/events/batch', { body: { events: [purchase(), purchase(), purchase()] } });
    await sleep(120);
    const single = await behind.call('POST', '/events', { body: purchase() });
    expect(single.status).toBe(429);
    expectDocumented('postEvent', single);
    const batch = await behind.call('POST', '/events/batch', { body: { events: [purchase()] } });
    expect(batch.status).toBe(429);
    expectDocumented('postEventBatch', batch);
  });

  it('GET /events/{id}: 200, 400, 404', async () => {
    const sent = await pipeline.call('POST', '/events', { body: purchase() });
    const id = (sent.body as { event_id: string }).event_id;
    expectDocumented('getEventStatus', await pipeline.call('GET', `/events/${id}`));
    await pipeline.drainOnce();
    const processed = await pipeline.call('GET', `/events/${id}`);
    expect(processed.body).toMatchObject({ status: 'processed' });
    expectDocumented('getEventStatus', processed);
    expectDocumented('getEventStatus', await pipeline.call('GET', '/events/not-a-uuid'));
    expectDocumented('getEventStatus', await pipeline.call('GET', '/events/7f1e0c1a-0000-4000-8000-000000000000'));
  });

  it("per-producer keys (PRODUCER_KEYS): 403 without a listed key; 404 for another producer's event", async () => {
    const keys = new Map([
      ['shop', 'contract-shop-key-0001'],
      ['billing', 'contract-billing-key-01'],
    ]);
    const keyed = createTestPipeline({ sql, stream, producerKeys: keys });
    for (const [operationId, method, path, body] of producerRoutes()) {
      const response = await keyed.call(method, path, { ...(body ? { body } : {}) });
      expect(response.status, `${operationId} without x-api-key`).toBe(403);
      expectDocumented(operationId, response);
    }
    const sent = await keyed.call('POST', '/events', { body: purchase(), headers: { 'x-api-key': 'contract-shop-key-0001' } });
    expectDocumented('postEvent', sent);
    const id = (sent.body as { event_id: string }).event_id;
    const own = await keyed.call('GET', `/events/${id}`, { headers: { 'x-api-key': 'contract-shop-key-0001' } });
    expect(own.status).toBe(200);
    expectDocumented('getEventStatus', own);
    const other = await keyed.call('GET', `/events/${id}`, { headers: { 'x-api-key': 'contract-billing-key-01' } });
    expect(other.status).toBe(404);
    expectDocumented('getEventStatus', other);
  });

  it('a failed event reads back with its error (GET /events/{id} 200) and redrives (200)', async () => {
    const bad = await pipeline.call('POST', '/events', { body: purchase({ properties: { amount: -1 } }) });
    const id = (bad.body as { event_id: string }).event_id;
    await pipeline.drainOnce();
    const failed = await pipeline.call('GET', `/events/${id}`);
    expect(failed.body).toMatchObject({ status: 'failed' });
    expectDocumented('getEventStatus', failed);
    const admin = { 'x-admin-token': ADMIN_TOKEN };
    const dryRun = await pipeline.call('POST', '/admin/redrive', { body: { event_ids: [id], dry_run: true }, headers: admin });
    expect(dryRun.status).toBe(200);
    expectDocumented('redriveFailedEvents', dryRun);
    expectDocumented(
      'redriveFailedEvents',
      await pipeline.call('POST', '/admin/redrive', { body: { all: true }, headers: admin }),
    );
  });

  it('POST /admin/redrive: 403, 400, 413, 415', async () => {
    const admin = { 'x-admin-token': ADMIN_TOKEN };
    const forbidden = await pipeline.call('POST', '/admin/redrive', { body: { all: true } });
    expect(forbidden.status).toBe(403);
    expectDocumented('redriveFailedEvents', forbidden);
    expectDocumented('redriveFailedEvents', await pipeline.call('POST', '/admin/redrive', { body: {}, headers: admin }));
    const big = await pipeline.call('POST', '/admin/redrive', { body: { error_type: 'x'.repeat(70_000) }, headers: admin });
    expect(big.status).toBe(413);
    expectDocumented('redriveFailedEvents', big);
    expectDocumented(
      'redriveFailedEvents',
      await pipeline.call('POST', '/admin/redrive', { rawBody: '{}', headers: { ...text, ...admin } }),
    );
  });

  it('GET /metrics: the local server (npm start) answers Prometheus text', async () => {
    const stack = await startLocalStack({
      env: { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: streamKey, PORT: '0', POWERTOOLS_LOG_LEVEL: 'ERROR' },
      consumer: false,
      log: () => {},
    });
    try {
      const response = await fetch(`${stack.url}/metrics`);
      const body = await response.text();
      expect(body).toContain('# TYPE');
      expectDocumented('getPrometheusMetrics', { status: response.status, headers: Object.fromEntries(response.headers), body });
    } finally {
      await stack.stop();
    }
  });

  it('operations: health and backlog summary', async () => {
    expectDocumented('getHealth', await pipeline.call('GET', '/health'));
    expectDocumented('getBacklogSummary', await pipeline.call('GET', '/metrics/summary'));
  });

  it('503 on every route that needs a dependency that is down', async () => {
    sql.down = true;
    stream.down = true;
    try {
      for (const [operationId, method, path, body] of [
        ...producerRoutes(),
        ['redriveFailedEvents', 'POST', '/admin/redrive', { all: true }] as const,
      ]) {
        const response = await pipeline.call(method, path, {
          ...(body ? { body } : {}),
          headers: { 'x-admin-token': ADMIN_TOKEN },
        });
        expect(response.status, `${operationId} with the database and stream down`).toBe(503);
        expectDocumented(operationId, response);
      }
    } finally {
      sql.down = false;
      stream.down = false;
    }
  });

  it('405 with Allow for another method on every routed path; 404 for an unrouted path', async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      if (path === '/metrics') continue;
      const [method, operation] = Object.entries(item)[0] as [string, Json];
      const concrete = path.replace('{id}', '7f1e0c1a-0000-4000-8000-000000000000').replace('{asset}', 'swagger-ui.css');
      // With the admin credential: without it /admin/ paths answer 403 before any routing.
      const response = await pipeline.call('DELETE', concrete, { headers: { 'x-admin-token': ADMIN_TOKEN } });
      expect(response.status, `DELETE ${concrete}`).toBe(405);
      expect(String(response.headers.allow).split(', ')).toContain(method.toUpperCase());
      expectDocumented(operation.operationId as string, response);
    }
    const unrouted = await pipeline.call('GET', '/no/such/route');
    expect(unrouted.status).toBe(404);
    const validate = validatorFor({ $ref: '#/components/schemas/Error' });
    expect(validate(unrouted.body)).toBe(true);
  });

  it('leaves no documented answer unexercised except those only API Gateway or the local server give', () => {
    const documented: string[] = [];
    for (const { operation } of operations.values()) {
      for (const status of Object.keys(operation.responses as Json)) documented.push(`${operation.operationId} ${status}`);
    }
    const unexercised = documented.filter((answer) => !exercised.has(answer)).sort();
    expect(unexercised).toEqual(Object.keys(UNREACHABLE_IN_PROCESS).sort());
  });
});

describe('request schemas are exactly as strict as the server', () => {
  const deep = (levels: number): unknown => (levels === 0 ? 1 : { n: deep(levels - 1) });
  const deepArray = (levels: number): unknown => (levels === 0 ? 1 : [deepArray(levels - 1)]);
  const eventBodies: Array<[string, unknown]> = [
    ['minimal', { event_type: 'page_view' }],
    ['every field', purchase({ timestamp: '2026-01-31T12:00:00+02:00', properties: { amount: 3, tags: ['a'], n: null } })],
    ['a local timestamp', { event_type: 'custom', timestamp: '2026-01-31T12:00:00' }],
    ['an event_id that is not a UUID', { event_type: 'custom', event_id: 'ABCDEF' }],
    ['an upper-case event_id', { event_type: 'custom', event_id: '7F1E0C1A-0000-4000-8000-00000000000A' }],
    ['an unknown event_type', { event_type: 'refund' }],
    ['no event_type', { user_id: 'u' }],
    ['an unknown top-level field', { event_type: 'custom', extra: 1 }],
    ['an empty user_id', { event_type: 'custom', user_id: '' }],
    ['a 256-character user_id', { event_type: 'custom', user_id: 'u'.repeat(256) }],
    ['properties not an object', { event_type: 'custom', properties: [1] }],
    ['a reserved key', { event_type: 'custom', properties: { a: { constructor: 1 } } }],
    ['a reserved key at the top of properties', { event_type: 'custom', properties: { prototype: 1 } }],
    [`objects ${8} deep`, { event_type: 'custom', properties: { d: deep(8) } }],
    [`objects ${9} deep`, { event_type: 'custom', properties: { d: deep(9) } }],
    [`arrays ${8} deep`, { event_type: 'custom', properties: { d: deepArray(8) } }],
    [`arrays ${9} deep`, { event_type: 'custom', properties: { d: deepArray(9) } }],
    ['a bad date', { event_type: 'custom', timestamp: '2026-02-30T00:00:00Z' }],
    ['not an object', ['event']],
  ];

  it.each(eventBodies)('POST /events with %s: the document accepts it exactly when the server does', async (_name, body) => {
    const response = await pipeline.call('POST', '/events', { body });
    expectDocumented('postEvent', response);
    const validate = componentValidator('Event');
    expect(validate(body), ajv.errorsText(validate.errors)).toBe(response.status === 202);
  });

  // Only expressible as raw JSON: an object literal's `__proto__` sets the prototype instead of a key.
  it.each([
    ['nested', '{"event_type":"custom","properties":{"a":{"__proto__":{"x":1}}}}', 'properties.a.__proto__'],
    ['at the top of properties', '{"event_type":"custom","properties":{"__proto__":{"x":1}}}', 'properties.__proto__'],
  ])('POST /events with __proto__ as a key %s is refused by both', async (_name, raw, path) => {
    const response = await pipeline.call('POST', '/events', { rawBody: raw });
    expectDocumented('postEvent', response);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ issues: [{ path, message: 'key "__proto__" is reserved' }] });
    expect(componentValidator('Event')(JSON.parse(raw))).toBe(false);
  });

  const batchBodies: Array<[string, unknown]> = [
    ['one event', { events: [purchase()] }],
    ['100 events', { events: Array.from({ length: 100 }, () => purchase()) }],
    ['101 events', { events: Array.from({ length: 101 }, () => purchase()) }],
    ['no events', { events: [] }],
    ['no events field', {}],
    ['an unknown field', { events: [purchase()], atomic: 'maybe' }],
    ['an invalid event', { events: [{ event_type: 'refund' }] }],
  ];

  it.each(batchBodies)(
    'POST /events/batch with %s: the document accepts it exactly when the server does',
    async (_name, body) => {
      const response = await pipeline.call('POST', '/events/batch', { body });
      expectDocumented('postEventBatch', response);
      const validate = componentValidator('BatchRequest');
      expect(validate(body), ajv.errorsText(validate.errors)).toBe(response.status === 202);
    },
  );

  const redriveBodies: Array<[string, unknown, boolean]> = [
    ['all', { all: true, dry_run: true }, true],
    ['ids and a limit', { event_ids: ['7f1e0c1a-0000-4000-8000-000000000000'], limit: 5, dry_run: true }, true],
    ['a non-uuid id', { event_ids: ['x'] }, false],
    ['nothing to select', {}, false],
    ['all: false', { all: false }, false],
    ['a limit of 0', { all: true, limit: 0 }, false],
    ['an unknown field', { all: true, everything: true }, false],
  ];

  it.each(redriveBodies)('POST /admin/redrive with %s: the document agrees with the server', async (_name, body, ok) => {
    const response = await pipeline.call('POST', '/admin/redrive', { body, headers: { 'x-admin-token': ADMIN_TOKEN } });
    expectDocumented('redriveFailedEvents', response);
    expect(response.status).toBe(ok ? 200 : 400);
    expect(componentValidator('RedriveRequest')(body)).toBe(ok);
  });
});
