// `npm start`: the pipeline on this machine (API on PORT, consumer loop, migrations) until Ctrl-C,
// which finishes the batch in flight before exiting.
import { parseArgs } from 'node:util';

// Node 20 is still supported by the SDK releases pinned here; the deprecation notice is for upgraders.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { redactCredentials } from '../lambdas/observability/logger.ts';
import { describeSql, LocalDependencyError, startLocalStack } from './lib/local-stack.ts';

const USAGE = `usage: npm start [-- --api-only | --consumer-only]
  --api-only       serve the API without a consumer loop (run consumers elsewhere)
  --consumer-only  run one consumer loop without the API (start several for more workers)`;

let args: { 'api-only'?: boolean; 'consumer-only'?: boolean; help?: boolean };
try {
  args = parseArgs({
    options: { 'api-only': { type: 'boolean' }, 'consumer-only': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  }).values;
} catch (error) {
  console.error(`eventflow: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args['api-only'] && args['consumer-only']) {
  console.error(`eventflow: --api-only and --consumer-only exclude each other\n${USAGE}`);
  process.exit(2);
}

try {
  const stack = await startLocalStack({
    api: !args['consumer-only'],
    consumer: !args['api-only'],
    onConsumerFailure: (error) => {
      console.error(
        redactCredentials(`eventflow: the consumer loop stopped (${String(error)}); exiting so a supervisor can restart it`),
      );
      process.exit(1);
    },
  });
  const { config } = stack;
  if (!stack.url) {
    console.log(
      redactCredentials(
        `EventFlow consumer running (${config.stream.driver} key "${config.stream.key}", group "${config.stream.group}", ${describeSql(config)}). Ctrl-C stops after the batch in flight.`,
      ),
    );
  } else
    console.log(
      redactCredentials(`EventFlow is running${args['api-only'] ? ' (API only, no consumer)' : ''}
  API            ${stack.url}   (POST /events, POST /events/batch, GET /events/{id}, GET /health)
  docs           ${stack.url}/docs   ${stack.url}/openapi.json
  metrics        ${stack.url}/metrics (Prometheus)   ${stack.url}/metrics/summary
  database       ${describeSql(config)}
  stream         ${config.stream.driver} ${config.stream.driver === 'upstash' ? config.stream.upstash.url : config.stream.redisUrl}  key "${config.stream.key}", group "${config.stream.group}"
Try: curl -XPOST ${stack.url}/events -H 'content-type: application/json' -d '{"event_type":"purchase","user_id":"u1","properties":{"amount":12.5}}'
Ctrl-C stops (the batch in flight is finished first).`),
    );
  let signalled = false;
  const shutdown = async (signal: string) => {
    if (signalled) return;
    signalled = true;
    console.log(`\n${signal}: finishing the batch in flight…`);
    const summary = await stack.stop();
    if (summary)
      console.log(`stopped: ${summary.processed} processed, ${summary.failed} failed, ${summary.duplicates} duplicates this run`);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof LocalDependencyError || (error as Error).name === 'ConfigError') {
    console.error(redactCredentials(`eventflow: ${(error as Error).message}`));
    process.exit(1);
  }
  throw error;
}
