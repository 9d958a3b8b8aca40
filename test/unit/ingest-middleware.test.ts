// The ingest app's middlewares on their own: admin authorization, the body step, the error mapping.
// No network: each runs in a one-route middy chain over API Gateway events from test/support.
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { EventTooLargeError, EventValidationError } from '../../lambdas/core/ingest.ts';
import { DependencyUnavailableError } from '../../lambdas/errors.ts';
import { errorResponses } from '../../lambdas/ingest/error-responses.ts';
import { HttpError, json } from '../../lambdas/ingest/http.ts';
import { parseBody } from '../../lambdas/ingest/parse-body.ts';
import { requireAdmin } from '../../lambdas/ingest/require-admin.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { apiRequest, lambdaContext } from '../support/events.ts';

const TOKEN = 'a-token-of-24-characters';

/** One route behind errorResponses (and whatever else), answering 200 unless `route` throws. */
function chain(
  route: (event: APIGatewayProxyEvent) => unknown,
  ...middlewares: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context>[]
) {
  const { logger, entries } = createQuietLogger();
  let handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>().use(
    errorResponses({ logger, metrics: createPrometheusMetrics() }),
  );
  for (const middleware of middlewares) handler = handler.use(middleware);
  const app = handler.handler(async (event) => json(200, { body: (await route(event)) ?? null }));
  return {
    logs: entries,
    async call(event: APIGatewayProxyEvent) {
      const response = await app(event, lambdaContext());
      return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown> };
    },
  };
}

describe('requireAdmin', () => {
  const admin = (headers: Record<string, string> = {}) => apiRequest('POST', '/admin/redrive', { body: {}, headers });

  it('lets the admin token through and refuses any other value, longer, shorter or absent, with 403', async () => {
    const { call } = chain(() => 'ran', requireAdmin({ token: TOKEN }));
    expect(await call(admin({ 'X-Admin-Token': TOKEN }))).toEqual({ status: 200, body: { body: 'ran' } });
    for (const wrong of [`${TOKEN.slice(0, -1)}b`, `${TOKEN}x`, TOKEN.slice(1), '']) {
      expect((await call(admin({ 'x-admin-token': wrong }))).body).toMatchObject({ error: 'forbidden' });
    }
    expect((await call(admin())).status).toBe(403);
  });

  it('lets IAM-signed requests through without a token, and only guards the admin routes', async () => {
    const { call } = chain(() => 'ran', requireAdmin({}));
    const signed = admin();
    const identity = { ...signed.requestContext.identity, userArn: 'arn:aws:iam::000000000000:user/ops' };
    expect((await call({ ...signed, requestContext: { ...signed.requestContext, identity } })).status).toBe(200);
    expect((await call(admin({ 'x-admin-token': TOKEN }))).status).toBe(403);
    expect((await call(apiRequest('GET', '/health'))).status).toBe(200);
  });

  it('logs a refusal with the correlation id, never the token', async () => {
    const { logger, entries } = createQuietLogger();
    const { call } = chain(() => 'ran', requireAdmin({ token: TOKEN, logger }));
    await call(admin({ 'x-admin-token': 'a-wrong-token-of-24-char', 'x-correlation-id': 'c-1' }));
    expect(entries).toEqual([
      {
        level: 'warn',
        message: 'admin request refused',
        extra: expect.objectContaining({ correlation_id: 'c-1', path: '/admin/redrive', token_given: true }),
      },
    ]);
    expect(JSON.stringify(entries)).not.toContain('a-wrong-token');
  });

  it.each([
    [{ token: 'short' }, 'token must be a string of at least 16 characters'],
    [{ header: 'X-Admin-Token' }, 'header must be a lower-case header name'],
    [{ appliesTo: 'admin' as unknown as () => boolean }, 'appliesTo must be a function'],
  ])('refuses invalid options %j when built', (options, message) => {
    expect(() => requireAdmin(options)).toThrow(message);
  });
});

describe('parseBody', () => {
  const schema = z.strictObject({ items: z.array(z.int({ error: 'must be an integer' })) });
  const readItems = parseBody(schema, { maxBytes: 100, subject: 'the list' });
  const route = (event: APIGatewayProxyEvent) => readItems({ event, headers: { 'content-type': 'application/json' } });

  it('returns the parsed body', async () => {
    const { call } = chain(route);
    expect(await call(apiRequest('POST', '/x', { body: { items: [1, 2] } }))).toEqual({
      status: 200,
      body: { body: { items: [1, 2] } },
    });
  });

  it('lists every schema issue with its path as a 400', async () => {
    const { call } = chain(route);
    expect(await call(apiRequest('POST', '/x', { body: { items: [1, 'a', 2.5] } }))).toEqual({
      status: 400,
      body: {
        error: 'validation_failed',
        message: 'the list does not match the contract',
        issues: [
          { path: 'items[1]', message: 'must be an integer' },
          { path: 'items[2]', message: 'must be an integer' },
        ],
      },
    });
  });

  it('answers 413 past the byte limit before parsing', async () => {
    const { call } = chain(route);
    expect((await call(apiRequest('POST', '/x', { body: { items: Array(60).fill(1) } }))).status).toBe(413);
  });
});

describe('errorResponses', () => {
  it.each([
    [new HttpError(409, 'event_id_conflict', 'taken'), 409, { error: 'event_id_conflict', message: 'taken' }],
    [
      new EventValidationError([{ path: 'event_type', message: 'must be one of …' }]),
      400,
      { error: 'validation_failed', issues: [{ path: 'event_type', message: 'must be one of …' }] },
    ],
    [new EventTooLargeError('events[3]', 40_000), 413, { error: 'event_too_large', path: 'events[3]' }],
    [new DependencyUnavailableError('database', 'connection refused'), 503, { error: 'service_unavailable' }],
    [new TypeError('x is undefined at /srv/app.js:1'), 500, { error: 'internal_error', message: 'internal error' }],
  ])('maps %s to %i', async (error, status, body) => {
    const { call, logs } = chain(() => {
      throw error;
    });
    const response = await call(apiRequest('POST', '/events', { body: {} }));
    expect(response).toEqual({ status, body: expect.objectContaining(body) });
    expect(JSON.stringify(response.body)).not.toContain('/srv/app.js');
    if (status >= 500) expect(logs).toHaveLength(1);
  });
});
