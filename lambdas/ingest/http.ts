// HTTP plumbing for the ingest API: HttpError, JSON responses, reading a UTF-8 JSON body within a byte
// limit, correlation ids and the metrics flush. Error mapping is error-responses.ts, not here.
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Issue } from '../../schemas/event.ts';
import { withLogKeys } from '../observability/logger.ts';
import type { Metrics } from '../observability/metric-names.ts';
import type { Logger } from '../ports.ts';

/** An error with an HTTP status. `expose` (status < 500) decides whether its message is shown. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: {
      readonly issues?: readonly Issue[];
      readonly headers?: Record<string, string>;
      readonly path?: string;
    } = {},
  ) {
    super(message);
    this.expose = status < 500;
  }
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult => ({
  statusCode: status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** Lower-cases header names (API Gateway keeps the client's casing). */
export function normalizeHeaders(headers: APIGatewayProxyEvent['headers'] | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}

/** The `charset` parameter of a content type, lower-cased and unquoted; undefined when absent. */
function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const [name = '', ...rest] = parameter.split('=');
    if (name.trim().toLowerCase() === 'charset')
      return rest
        .join('=')
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a JSON body: 415 unless the content type is JSON in UTF-8, 413 past `maxBytes`, 400 for bytes
 * that are not UTF-8 or not JSON. Size is checked on the bytes before parsing, so a huge body costs no
 * parse. Undecodable bytes are refused rather than replaced by U+FFFD: what is stored is what was sent.
 */
export function readJsonBody(event: APIGatewayProxyEvent, headers: Record<string, string>, maxBytes: number): unknown {
  const contentType = headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw new HttpError(415, 'unsupported_media_type', 'content-type must be application/json');
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpError(415, 'unsupported_charset', `charset "${charset}" is not supported: send the body as UTF-8`);
  }
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBytes) {
    throw new HttpError(413, 'payload_too_large', `body is ${bytes.length} bytes; the limit for this route is ${maxBytes}`);
  }
  if (bytes.length === 0) throw new HttpError(400, 'malformed_json', 'body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_utf8', `body is not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8(bytes)})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'malformed_json', `body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Buffer): number {
  // Bisect on prefixes: a prefix that decodes is valid up to its end (cut sequences aside).
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, middle), { stream: true });
      low = middle;
    } catch {
      high = middle - 1;
    }
  }
  return low;
}

const CORRELATION_HEADERS = ['x-correlation-id', 'x-request-id'];

/**
 * The request's correlation id: the client's header, else API Gateway's request id. Derived from the
 * event alone, so nothing is shared between requests that run at the same time (local server).
 */
export function correlationIdOf(event: APIGatewayProxyEvent): string {
  const headers = normalizeHeaders(event.headers);
  return CORRELATION_HEADERS.map((name) => headers[name]).find(Boolean) ?? event.requestContext?.requestId ?? '';
}

/** The logger for one request: every line carries its correlation id. */
export const requestLogger = (logger: Logger, event: APIGatewayProxyEvent): Logger =>
  withLogKeys(logger, { correlation_id: correlationIdOf(event) });

/** Echoes the correlation id on every response and logs one debug line per request. */
export function correlationId(logger: Logger): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  const finish = (request: { event: APIGatewayProxyEvent; response?: APIGatewayProxyResult | null | undefined }) => {
    const id = correlationIdOf(request.event);
    if (request.response && id) request.response.headers = { ...request.response.headers, 'x-correlation-id': id };
    requestLogger(logger, request.event).debug('request', {
      method: request.event.httpMethod,
      path: request.event.path,
      status: request.response?.statusCode,
    });
  };
  return {
    after: function correlationIdAfter(request) {
      finish(request);
    },
    onError: function correlationIdOnError(request) {
      finish(request);
    },
  };
}

/** Publishes the request's metrics (EMF) however the request ended. */
export function flushMetrics(metrics: Metrics): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  const flush = () => metrics.flush();
  return { after: flush, onError: flush };
}
