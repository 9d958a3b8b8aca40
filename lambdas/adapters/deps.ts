// Builds the real adapters from the validated config: the one place that picks a technology per
// port. Handlers call it once at cold start; the local runner and tests use the same functions.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/config.ts';
import type { DeadLetterQueue, EventStream, IngestFallbackQueue, SqlExecutor } from '../ports.ts';

/** The SQL adapter for `config.sql.driver`. Drivers not chosen are never loaded. */
export async function createSqlExecutor(config: Config): Promise<SqlExecutor> {
  const sql = config.sql;
  switch (sql.driver) {
    case 'data-api': {
      const { createDataApiExecutor } = await import('./sql/data-api.ts');
      return createDataApiExecutor({
        resourceArn: sql.clusterArn,
        secretArn: sql.secretArn,
        database: sql.database,
        ...(sql.endpoint ? { endpoint: sql.endpoint } : {}),
      });
    }
    case 'pg': {
      const { createPgExecutor } = await import('./sql/pg.ts');
      return createPgExecutor({ connectionString: sql.url });
    }
    case 'pglite': {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(sql.dataDir, { recursive: true });
      const { createPgliteExecutor } = await import('./sql/pglite.ts');
      return createPgliteExecutor({ dataDir: sql.dataDir });
    }
  }
}

/** The stream adapter for `config.stream.driver`. */
export async function createEventStream(config: Config, options: { maxBlockMs?: number } = {}): Promise<EventStream> {
  const { stream } = config;
  if (stream.driver === 'upstash') {
    const { createUpstashStream } = await import('./stream/upstash.ts');
    const { url, token, secretArn, secretsExtensionPort } = stream.upstash;
    const credentials = url && token ? { url, token } : await readSecret(secretArn as string, secretsExtensionPort);
    return createUpstashStream({ ...credentials, streamKey: stream.key, group: stream.group });
  }
  const { createIoredisStream } = await import('./stream/ioredis.ts');
  return createIoredisStream({
    url: stream.redisUrl,
    streamKey: stream.key,
    group: stream.group,
    maxBlockMs: options.maxBlockMs ?? 0,
  });
}

/** The Upstash credentials: through the Lambda extension when it is configured (no SDK client), else the SDK. */
async function readSecret(secretArn: string, extensionPort: number | undefined) {
  const secrets = await import('./secrets.ts');
  if (extensionPort === undefined) return secrets.readUpstashCredentials(secretArn);
  // Lambda's session token authenticates calls to the extension (AWS's contract, not one of our settings).
  return secrets.readUpstashCredentialsFromExtension(secretArn, {
    port: extensionPort,
    sessionToken: process.env.AWS_SESSION_TOKEN,
  });
}

/** SQS queues that are configured (both are optional). */
export async function createQueues(config: Config): Promise<{ dlq?: DeadLetterQueue; fallback?: IngestFallbackQueue }> {
  const { dlqUrl, fallbackUrl, endpoint } = config.queues;
  if (!dlqUrl && !fallbackUrl) return {};
  const [{ createSqsClient }, { createSqsDeadLetterQueue }, { createSqsIngestFallbackQueue }] = await Promise.all([
    import('./sqs/client.ts'),
    import('./sqs/dead-letter-queue.ts'),
    import('./sqs/fallback-queue.ts'),
  ]);
  const client = createSqsClient(endpoint ? { endpoint } : {});
  return {
    ...(dlqUrl ? { dlq: createSqsDeadLetterQueue(client, dlqUrl) } : {}),
    ...(fallbackUrl ? { fallback: createSqsIngestFallbackQueue(client, fallbackUrl) } : {}),
  };
}

/** A consumer name unique to this process/container, so the group can tell consumers apart. */
export function consumerName(config: Config): string {
  return (
    config.consumer.name ??
    `${process.env.AWS_LAMBDA_LOG_STREAM_NAME ? 'lambda' : hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  );
}
