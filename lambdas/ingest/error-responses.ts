// The one place where errors become HTTP responses: route code throws core errors or HttpError and
// this middleware answers. Client errors are explained; anything else is a bare 500 with no internals.
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { EventTooLargeError, EventValidationError } from '../core/ingest.ts';
import { DependencyUnavailableError } from '../errors.ts';
import type { Metrics } from '../observability/metric-names.ts';
import type { Logger } from '../ports.ts';
import { HttpError, json, requestLogger } from './http.ts';

/** The HTTP meaning of the core's client errors; null for anything else. */
export function toHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  if (error instanceof EventValidationError) {
    return new HttpError(400, 'validation_failed', 'the event does not match the contract', { issues: error.issues });
  }
  if (error instanceof EventTooLargeError) return new HttpError(413, 'event_too_large', error.message, { path: error.path });
  return null;
}

export interface ErrorResponsesOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The `producer` label of a refused request (a bounded set: key ids or configured names). */
  readonly producerOf?: (event: APIGatewayProxyEvent) => string;
}

/** Maps errors to responses: client errors as themselves, dependency outages to 503, anything else to 500. */
export function errorResponses(
  options: ErrorResponsesOptions,
): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  const { logger, metrics, producerOf } = options;
  return {
    onError: function errorResponsesOnError(request) {
      const error = request.error;
      const clientError = toHttpError(error);
      if (clientError) {
        metrics.count('eventsRejected', 1, {
          reason: clientError.code,
          ...(producerOf ? { producer: producerOf(request.event) } : {}),
        });
        request.response = json(
          clientError.status,
          {
            error: clientError.code,
            message: clientError.message,
            ...(clientError.extra.issues ? { issues: clientError.extra.issues } : {}),
            ...(clientError.extra.path ? { path: clientError.extra.path } : {}),
          },
          clientError.extra.headers,
        );
        return;
      }
      const log = requestLogger(logger, request.event);
      if (error instanceof DependencyUnavailableError) {
        log.warn('dependency unavailable', { dependency: error.dependency, error: error.message });
        request.response = json(
          503,
          {
            error: 'service_unavailable',
            message: `${error.dependency} is unavailable; retry later (retrying with the same event_id is safe)`,
          },
          { 'retry-after': '5' },
        );
        return;
      }
      log.error('unhandled error', { error: error?.stack ?? String(error) });
      request.response = json(500, { error: 'internal_error', message: 'internal error' });
    },
  };
}
