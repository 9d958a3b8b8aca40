// `npm run redrive`: replays dead-lettered events (failed_events) onto the stream, so a fixed cause
// lets them end processed exactly once. Uses the same config (env) as the pipeline.
import { parseArgs } from 'node:util';
import { createEventStream, createSqlExecutor } from '../lambdas/adapters/deps.ts';
import { loadConfig } from '../lambdas/config/config.ts';
import { redriveFailed } from '../lambdas/core/redrive.ts';
import { createLogger } from '../lambdas/observability/logger.ts';
import { isEventId } from '../schemas/event.ts';
import { describeSql } from './lib/local-stack.ts';

const USAGE = `usage: npm run redrive -- (--event-id ID [--event-id ID …] | --error-type TYPE | --all) [--limit N] [--dry-run]
  --event-id ID     replay this failed event (repeatable)
  --error-type T    replay failed events with this error_type (e.g. DependencyUnavailableError)
  --all             replay every failed event (unparsable stream entries are never replayed)
  --limit N         at most N events, oldest failures first (default 1000)
  --dry-run         list what would be replayed, change nothing`;

function fail(message: string): never {
  console.error(`eventflow redrive: ${message}\n${USAGE}`);
  process.exit(2);
}

let values: { 'event-id'?: string[]; 'error-type'?: string; all?: boolean; limit?: string; 'dry-run'?: boolean; help?: boolean };
try {
  values = parseArgs({
    options: {
      'event-id': { type: 'string', multiple: true },
      'error-type': { type: 'string' },
      all: { type: 'boolean' },
      limit: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values['event-id'] && !values['error-type'] && !values.all) fail('say which events: --event-id, --error-type or --all');
const limit = values.limit === undefined ? 1000 : Number(values.limit);
if (!Number.isInteger(limit) || limit < 1) fail(`--limit must be a positive whole number, got ${values.limit}`);
for (const id of values['event-id'] ?? []) if (!isEventId(id)) fail(`--event-id ${id} is not a UUID`);

const config = loadConfig();
const logger = createLogger({ serviceName: `${config.serviceName}-redrive`, level: 'WARN' });
const [sql, stream] = await Promise.all([createSqlExecutor(config), createEventStream(config)]);
try {
  const result = await redriveFailed(
    { sql, stream, logger },
    {
      ...(values['event-id'] ? { eventIds: values['event-id'].map((id) => id.toLowerCase()) } : {}),
      ...(values['error-type'] ? { errorType: values['error-type'] } : {}),
      limit,
      dryRun: values['dry-run'] ?? false,
    },
  );
  if (result.dry_run) {
    console.log(`${result.event_ids.length} failed event(s) would be replayed from ${describeSql(config)}:`);
    for (const row of result.candidates ?? []) {
      console.log(`  ${row.event_id}  ${row.error_type.padEnd(26)} ${row.failed_at}  ${row.error_message.slice(0, 80)}`);
    }
  } else {
    console.log(`replayed ${result.event_ids.length} failed event(s) onto stream "${config.stream.key}"`);
    if (result.publish_deferred > 0) {
      console.log(
        `  ${result.publish_deferred} could not be published now (stream unavailable); the consumer's reconciler publishes them`,
      );
    }
  }
} catch (error) {
  console.error(`eventflow redrive: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await Promise.all([sql.close(), stream.close()]);
}
