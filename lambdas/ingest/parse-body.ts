// The body-parsing step of the routes that take a JSON body: bytes → JSON → the route's zod schema.
// The one place where zod issues become a 400 `{path, message}` list; nothing is stored before it passes.
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type * as z from 'zod/mini';
import { issuesOf } from '../../schemas/event.ts';
import { HttpError, readJsonBody } from './http.ts';

export interface ParseBodyOptions {
  /** Bodies over this many bytes are a 413 before any parsing. */
  readonly maxBytes: number;
  /** What the body is, for the 400 message: "the batch" → "the batch does not match the contract". */
  readonly subject: string;
}

/** A request as the body step needs it (headers already lower-cased). */
export interface BodyRequest {
  readonly event: APIGatewayProxyEvent;
  readonly headers: Record<string, string>;
}

/**
 * Builds the body step of a route: 415/413/400 for what is not UTF-8 JSON (see readJsonBody), then a
 * 400 `validation_failed` listing every issue of `schema` with its path, else the parsed value.
 */
export function parseBody<Schema extends z.ZodMiniType>(
  schema: Schema,
  options: ParseBodyOptions,
): (request: BodyRequest) => z.output<Schema> {
  if (!Number.isInteger(options.maxBytes) || options.maxBytes <= 0) {
    throw new RangeError(`parseBody: maxBytes must be a positive integer, got ${options.maxBytes}`);
  }
  return function parseBodyStep(request) {
    const parsed = schema.safeParse(readJsonBody(request.event, request.headers, options.maxBytes));
    if (!parsed.success) {
      throw new HttpError(400, 'validation_failed', `${options.subject} does not match the contract`, {
        issues: issuesOf(parsed.error.issues),
      });
    }
    return parsed.data;
  };
}
