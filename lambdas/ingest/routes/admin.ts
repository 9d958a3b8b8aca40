// Admin routes (behind requireAdmin in the chain): POST /admin/redrive replays dead letters.
import * as z from 'zod/mini';
import { redriveFailed } from '../../core/redrive.ts';
import { HttpError, json } from '../http.ts';
import { parseBody } from '../parse-body.ts';
import type { Route } from '../route.ts';

const ADMIN_BODY_BYTES = 64 * 1024;

export const redriveBody = z.strictObject(
  {
    event_ids: z.optional(z.array(z.uuid({ error: 'must be a UUID' })).check(z.maxLength(1000, { error: 'at most 1000 ids' }))),
    error_type: z.optional(z.string().check(z.minLength(1))),
    all: z.optional(z.boolean()),
    limit: z.optional(z.int().check(z.gte(1), z.lte(10_000))),
    dry_run: z.optional(z.boolean()),
  },
  {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field: ${issue.keys.join(', ')}` : 'must be a JSON object'),
  },
);

const readRedrive = parseBody(redriveBody, { maxBytes: ADMIN_BODY_BYTES, subject: 'the redrive request' });

/** Admin only: requireAdmin (in the chain) has refused anyone else before this runs. */
export const postRedrive: Route = async (request, deps) => {
  const body = readRedrive(request);
  if (!body.event_ids && !body.error_type && !body.all) {
    throw new HttpError(400, 'validation_failed', 'say which failed events to redrive', {
      issues: [{ path: '(body)', message: 'give event_ids, error_type or all: true' }],
    });
  }
  const result = await redriveFailed(deps, {
    eventIds: body.event_ids,
    errorType: body.error_type,
    limit: body.limit ?? 1000,
    dryRun: body.dry_run ?? false,
  });
  return json(200, result);
};
