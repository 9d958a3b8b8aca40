// Event and request factories for tests: realistic API Gateway proxy events and a fixed Lambda
// context, so tests read as "POST this body" rather than as event plumbing.

import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { localContext, toApiGatewayEvent } from '../../scripts/lib/local-api-gateway.ts';

export const lambdaContext = (timeoutMs = 30_000): Context => localContext('eventflow-test', timeoutMs);

export function apiRequest(
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): APIGatewayProxyEvent {
  const body = options.rawBody ?? (options.body === undefined ? '' : JSON.stringify(options.body));
  const headers = { ...(body ? { 'Content-Type': 'application/json' } : {}), ...options.headers };
  const rawHeaders = Object.entries(headers).flat();
  const fake = {
    url: path,
    method,
    rawHeaders,
    httpVersion: '1.1',
    socket: { remoteAddress: '127.0.0.1' },
  } as unknown as IncomingMessage;
  return toApiGatewayEvent(fake, Buffer.from(body, 'utf8'));
}

export interface TestEvent {
  event_id?: string;
  event_type: string;
  user_id?: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
}

/** A valid purchase; override any field. Pass `event_id` to control idempotency. */
export const purchase = (overrides: Partial<TestEvent> = {}): TestEvent & { event_id: string } => ({
  event_id: crypto.randomUUID(),
  event_type: 'purchase',
  user_id: 'u-1',
  properties: { amount: 12.5, product: 'Widget' },
  ...overrides,
});
