// Local SQS-compatible endpoint for development and tests (fauxqs, in memory) with EventFlow's queues.
// Dev tooling only: lambdas/ must never import it, and it must not listen beyond loopback unless asked (no auth).
import { pathToFileURL } from 'node:url';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { ENV } from '../../lambdas/config/keys.ts';

export const DEFAULT_QUEUES = ['eventflow-dlq', 'eventflow-ingest-fallback'] as const;

export interface LocalSqsOptions {
  /** 0 lets the OS pick a free port (tests). */
  readonly port?: number;
  /** Address to bind and to put in the endpoint; 127.0.0.1 keeps the unauthenticated queue off the network. */
  readonly host?: string;
  readonly queues: readonly string[];
  /** Attributes for every queue created (e.g. a short VisibilityTimeout in tests). */
  readonly queueAttributes?: Record<string, string>;
  readonly region?: string;
}

export interface LocalSqs {
  /** Pass as the SQS client's `endpoint`: the queue URLs' host (sqs.<region>.localhost) does not resolve. */
  readonly endpoint: string;
  readonly queueUrls: Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalSqs(options: LocalSqsOptions): Promise<LocalSqs> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  // buildApp rather than startFauxqs: startFauxqs always binds 0.0.0.0.
  const app = buildApp({ logger: false, defaultRegion: region });
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error(`local sqs: unexpected listen address ${String(address)}`);
  }
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const endpoint = `http://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${address.port}`;

  // Queues are created over the wire, so their URLs are exactly what CreateQueue returns to any client.
  const client = new SQSClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const queueUrls: Record<string, string> = {};
  try {
    for (const name of options.queues) {
      const output = await client.send(
        new CreateQueueCommand({ QueueName: name, ...(options.queueAttributes ? { Attributes: options.queueAttributes } : {}) }),
      );
      if (!output.QueueUrl) throw new Error(`local sqs: CreateQueue ${name} returned no QueueUrl`);
      queueUrls[name] = output.QueueUrl;
    }
  } catch (error) {
    await app.close();
    throw error;
  } finally {
    client.destroy();
  }

  return {
    endpoint,
    queueUrls,
    async close() {
      // Long polls still waiting would keep close() pending; fauxqs force-closes connections.
      await app.close();
    },
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.SQS_LOCAL_PORT ?? 9324);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`SQS_LOCAL_PORT must be a port number, got "${process.env.SQS_LOCAL_PORT}"`);
  }
  const [dlq, fallback] = DEFAULT_QUEUES;
  const sqs = await startLocalSqs({ port, host: process.env.SQS_LOCAL_HOST ?? '127.0.0.1', queues: [...DEFAULT_QUEUES] });
  console.log(`local SQS (fauxqs) listening on ${sqs.endpoint}`);
  for (const [name, url] of Object.entries(sqs.queueUrls)) console.log(`  ${name}: ${url}`);
  console.log('\nenvironment for the lambdas and scripts:');
  console.log(`${ENV.sqsEndpoint}=${sqs.endpoint}`);
  console.log(`${ENV.dlqUrl}=${sqs.queueUrls[dlq]}`);
  console.log(`${ENV.ingestFallbackQueueUrl}=${sqs.queueUrls[fallback]}`);

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    console.log(`\n${signal}: closing local SQS (queues are in memory and are lost)`);
    sqs.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
