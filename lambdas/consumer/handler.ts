// Lambda entry for the consumer (EventBridge schedule). Wiring only: dependencies are built once
// per container; each invocation drains until the stream is empty (scheduled) or time runs short.
import type { Context, ScheduledEvent } from 'aws-lambda';
import { withInvocationDeadline } from '../adapters/deadline.ts';
import { consumerName, createEventStream, createQueues, createSqlExecutor } from '../adapters/deps.ts';
import { loadConfig } from '../config/config.ts';
import type { DrainSummary } from '../core/drain/delivery.ts';
import { createDrainer } from '../core/drain/loop.ts';
import { createEmfMetrics } from '../observability/emf-metrics.ts';
import { createLogger } from '../observability/logger.ts';
import { systemClock } from '../ports.ts';
import { drainSettings } from './settings.ts';

const config = loadConfig();
const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel });
const metrics = createEmfMetrics({ namespace: config.metricsNamespace, serviceName: config.serviceName });
const [sql, stream, queues] = await Promise.all([
  createSqlExecutor(config),
  createEventStream(config, { maxBlockMs: config.consumer.blockMs }),
  createQueues(config),
]);
const drainer = createDrainer(
  { sql, stream, ...queues, clock: systemClock, metrics, logger },
  drainSettings(config, consumerName(config)),
);

async function drain(_event: ScheduledEvent, context: Context): Promise<DrainSummary> {
  metrics.gauge('activeWorkers', 1);
  const summary = await drainer.drain({
    remainingMs: () => context.getRemainingTimeInMillis(),
    marginMs: config.consumer.timeMarginMs,
  });
  logger.info('drain finished', { ...summary });
  return summary;
}

// Every call the drain makes ends before the Lambda timeout (lambdas/adapters/deadline.ts): a hanging
// dependency surfaces as DependencyUnavailableError while there is time to stop cleanly.
export const handler = withInvocationDeadline(drain);
