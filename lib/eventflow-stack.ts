// The one EventFlow stack: composes network, queues, database, stream, API, consumer, migrations and
// observability from the validated config. Must never hold resource details; each concern owns its own.
import { CfnOutput, RemovalPolicies, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE_DEFAULT } from '../lambdas/observability/metric-names.ts';
import type { EventFlowConfig } from './config.ts';
import { Consumer } from './consumer.ts';
import { Database } from './database.ts';
import type { FunctionDefaults } from './eventflow-function.ts';
import { IngestApi } from './ingest-api.ts';
import { Migrations } from './migrations.ts';
import { Network } from './network.ts';
import { Observability } from './observability.ts';
import { Queues } from './queues.ts';
import { cacheNameFor, StreamBackend } from './stream.ts';

export interface EventFlowStackProps extends StackProps {
  readonly config: EventFlowConfig;
}

const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

export class EventFlowStack extends Stack {
  readonly config: EventFlowConfig;
  readonly ingest: IngestApi;
  readonly consumer: Consumer;
  readonly database: Database;
  readonly queues: Queues;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: EventFlowStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.config = config;
    const local = config.local;
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const elasticache = config.redisBackend === 'elasticache';

    // LocalStack's free image runs neither EC2 networking nor RDS: no VPC there.
    const network = local
      ? undefined
      : new Network(this, 'Network', { lambdasInVpc: elasticache, removalPolicy, logRetention: LOG_RETENTION });
    // A retained cluster (and cache) keeps network interfaces in these subnets and security groups:
    // deleting the network under them would leave `cdk destroy` in DELETE_FAILED.
    if (network && removalPolicy === RemovalPolicy.RETAIN) RemovalPolicies.of(network).retain();
    this.queues = new Queues(this, 'Queues', { removalPolicy });
    this.database = new Database(this, 'Database', {
      ...(network ? { network } : {}),
      minAcu: config.minAcu,
      maxAcu: config.maxAcu,
      removalPolicy,
      deletionProtection: config.removalPolicy === 'retain',
      ...(local ? { localDataApiEndpoint: local.dataApiEndpoint } : {}),
    });
    const stream = new StreamBackend(
      this,
      'Stream',
      local
        ? { kind: 'local', endpoints: local }
        : elasticache && network
          ? { kind: 'elasticache', network, cacheName: cacheNameFor(config.stage), removalPolicy }
          : { kind: 'upstash', secretName: config.upstashSecretName },
    );

    const serviceName = `eventflow-${config.stage}`;
    const defaults: FunctionDefaults = {
      serviceName,
      metricsNamespace: METRICS_NAMESPACE_DEFAULT,
      logLevel: config.logLevel,
      logRetention: LOG_RETENTION,
      removalPolicy,
      ...(network?.functionPlacement ? { placement: network.functionPlacement } : {}),
      // The Lambdas reach SQL through the Data API only, and Redis through one backend.
      unusedPackages: ['pg', elasticache ? '@upstash/redis' : 'ioredis'],
    };

    this.ingest = new IngestApi(this, 'Ingest', {
      stage: config.stage,
      defaults,
      database: this.database,
      stream,
      queues: this.queues,
      rateLimit: config.apiRateLimit,
      burstLimit: config.apiBurstLimit,
      quotaPerDay: config.apiQuotaPerDay,
      producers: config.producers,
      removalPolicy,
      logRetention: LOG_RETENTION,
    });
    this.consumer = new Consumer(this, 'Consumer', {
      defaults,
      database: this.database,
      stream,
      queues: this.queues,
      mode: config.consumerMode,
      workers: config.workers,
      ...(config.consumerReservedConcurrency === undefined ? {} : { reservedConcurrency: config.consumerReservedConcurrency }),
      scheduleMinutes: config.consumerScheduleMinutes,
      batchSize: config.batchSize,
      maxAttempts: config.maxAttempts,
      retryBaseMs: config.retryBaseMs,
    });
    const migrations = new Migrations(this, 'Migrations', { defaults, database: this.database });
    this.observability = new Observability(this, 'Observability', {
      stage: config.stage,
      serviceName,
      metricsNamespace: METRICS_NAMESPACE_DEFAULT,
      api: this.ingest.api,
      ingestFunction: this.ingest.handler,
      consumerFunction: this.consumer.handler,
      migrateFunction: migrations.handler,
      queues: this.queues,
      consumerScheduleMinutes: config.consumerScheduleMinutes,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      withAlarmTopic: !local,
      removalPolicy,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.ingest.api.url,
      description: 'HTTPS endpoint; POST <ApiUrl>events with header x-api-key',
    });
    const [shared] = this.ingest.access;
    if (shared && shared.producer === undefined) {
      new CfnOutput(this, 'ApiKeyId', {
        value: shared.apiKey.keyId,
        description: 'aws apigateway get-api-key --api-key <ApiKeyId> --include-value --query value --output text',
      });
    } else {
      // The key ids are what raw_events.producer and the metrics' producer dimension hold.
      new CfnOutput(this, 'ProducerApiKeyIds', {
        value: this.toJsonString(Object.fromEntries(this.ingest.access.map((a) => [a.producer, a.apiKey.keyId]))),
        description: 'producer → API key id; the key: aws apigateway get-api-key --api-key <id> --include-value',
      });
    }
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
    for (const [name, queue] of Object.entries(this.queues.all)) {
      new CfnOutput(this, `${name}Url`, { value: queue.queueUrl });
    }
  }
}
