// `npm start`: the pipeline on this machine (API on PORT, consumer loop, migrations) until Ctrl-C,
// which finishes the batch in flight before exiting.
import { describeSql, LocalDependencyError, startLocalStack } from './lib/local-stack.ts';

try {
  const stack = await startLocalStack();
  const { config } = stack;
  console.log(`EventFlow is running
  API            ${stack.url}   (POST /events, POST /events/batch, GET /events/{id}, GET /health)
  docs           ${stack.url}/docs   ${stack.url}/openapi.json
  metrics        ${stack.url}/metrics (Prometheus)   ${stack.url}/metrics/summary
  database       ${describeSql(config)}
  stream         ${config.stream.driver} ${config.stream.driver === 'upstash' ? config.stream.upstash.url : config.stream.redisUrl}  key "${config.stream.key}", group "${config.stream.group}"
Try: curl -XPOST ${stack.url}/events -H 'content-type: application/json' -d '{"event_type":"purchase","user_id":"u1","properties":{"amount":12.5}}'
Ctrl-C stops (the batch in flight is finished first).`);
  let signalled = false;
  const shutdown = async (signal: string) => {
    if (signalled) return;
    signalled = true;
    console.log(`\n${signal}: finishing the batch in flight…`);
    const summary = await stack.stop();
    if (summary) console.log(`stopped: ${summary.processed} processed, ${summary.failed} failed, ${summary.duplicates} duplicates this run`);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (error) {
  if (error instanceof LocalDependencyError || (error as Error).name === 'ConfigError') {
    console.error(`eventflow: ${(error as Error).message}`);
    process.exit(1);
  }
  throw error;
}
