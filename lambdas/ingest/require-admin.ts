// Admin authorization as a middy middleware factory: IAM-signed requests (API Gateway checked the
// signature) or the admin token. The token is compared in constant time; a refusal is logged, never explained.

import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Logger } from '../ports.ts';
import { HttpError, normalizeHeaders, requestLogger } from './http.ts';
import { sameDigest, secretDigest } from './secret-digest.ts';

export interface RequireAdminOptions {
  /** Accepted in the `header`; at least 16 characters. Without it only IAM-signed requests pass. */
  readonly token?: string | undefined;
  /** Lower-case header name carrying the token. */
  readonly header?: string;
  /** Which requests need an admin; by default the routes under /admin/. */
  readonly appliesTo?: (event: APIGatewayProxyEvent) => boolean;
  /** Where refusals are logged (with the request's correlation id). */
  readonly logger?: Logger;
}

const isAdminRoute = (event: APIGatewayProxyEvent): boolean => /^\/admin(?:\/|$)/.test(event.resource ?? event.path ?? '');

const defaults = {
  header: 'x-admin-token',
  appliesTo: isAdminRoute,
} satisfies RequireAdminOptions;

/** Thrown by the middleware itself, so its onError logs only its own refusals. */
class AdminRequiredError extends HttpError {
  constructor() {
    super(403, 'forbidden', 'admin routes need an IAM-signed request or a valid x-admin-token');
  }
}

export function requireAdmin(
  opts: RequireAdminOptions = {},
): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  const options = { ...defaults, ...opts };
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) {
    throw new TypeError('requireAdmin: token must be a string of at least 16 characters (or left out)');
  }
  if (!/^[a-z0-9-]+$/.test(options.header)) {
    throw new TypeError(`requireAdmin: header must be a lower-case header name, got "${options.header}"`);
  }
  if (typeof options.appliesTo !== 'function') throw new TypeError('requireAdmin: appliesTo must be a function');
  const expected = options.token === undefined ? null : secretDigest(options.token);

  return {
    before: function requireAdminBefore(request) {
      if (!options.appliesTo(request.event)) return;
      // Only API Gateway sets the caller's ARN, after verifying the SigV4 signature (AWS_IAM authorizer).
      if (request.event.requestContext?.identity?.userArn) return;
      const given = normalizeHeaders(request.event.headers)[options.header];
      if (expected && given !== undefined && sameDigest(secretDigest(given), expected)) return;
      throw new AdminRequiredError();
    },
    onError: function requireAdminOnError(request) {
      if (!(request.error instanceof AdminRequiredError) || !options.logger) return;
      requestLogger(options.logger, request.event).warn('admin request refused', {
        method: request.event.httpMethod,
        path: request.event.path,
        source_ip: request.event.requestContext?.identity?.sourceIp,
        token_given: options.header in normalizeHeaders(request.event.headers),
      });
    },
  };
}
