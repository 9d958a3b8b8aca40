// Lambda entry for the ingest API (API Gateway REST proxy events). Wiring only: config, adapters,
// logger and metrics are built once per container; every request runs lambdas/ingest/app.ts.

import { withInvocationDeadline } from '../adapters/deadline.ts';
import { createEventStream, createQueues, createSqlExecutor } from '../adapters/deps.ts';
import { loadConfig } from '../config/config.ts';
import { createBackpressure } from '../core/backpressure.ts';
import { createEmfMetrics } from '../observability/emf-metrics.ts';
import { createLogger } from '../observability/logger.ts';
import { systemClock } from '../ports.ts';
import { createIngestApp } from './app.ts';
import { uuidv7 } from './uuidv7.ts';

const config = loadConfig();
const logger = createLogger({ serviceName: config.serviceName, level: config.logLevel });
const [sql, stream, queues] = await Promise.all([createSqlExecutor(config), createEventStream(config), createQueues(config)]);

const app = createIngestApp({
  sql,
  stream,
  ...(queues.fallback ? { fallback: queues.fallback } : {}),
  clock: systemClock,
  newId: uuidv7,
  metrics: createEmfMetrics({ namespace: config.metricsNamespace, serviceName: config.serviceName }),
  logger,
  ...(config.adminToken ? { adminToken: config.adminToken } : {}),
  // Unset in AWS: API Gateway checks the keys and names each request's key id.
  ...(config.producerKeys ? { producerKeys: config.producerKeys } : {}),
  backpressure: createBackpressure({ stream, clock: systemClock, logger }, config.backpressure),
});

// Every call a request makes ends before the Lambda timeout (lambdas/adapters/deadline.ts): a hanging
// dependency becomes the fallback queue (202) or a 503, never a timed-out invocation.
export const handler = withInvocationDeadline(app);
