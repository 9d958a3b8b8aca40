// Environment variable names, shared by config.ts (which reads them) and lib/ (which sets them),
// so the CDK stack and the Lambdas cannot disagree on a name. No logic here.

export const ENV = {
  sqlDriver: 'SQL_DRIVER',
  databaseUrl: 'DATABASE_URL',
  pgliteDir: 'PGLITE_DIR',
  dbClusterArn: 'DB_CLUSTER_ARN',
  dbSecretArn: 'DB_SECRET_ARN',
  dbName: 'DB_NAME',
  rdsDataEndpoint: 'RDS_DATA_ENDPOINT',
  streamDriver: 'STREAM_DRIVER',
  redisUrl: 'REDIS_URL',
  upstashUrl: 'UPSTASH_REDIS_REST_URL',
  upstashToken: 'UPSTASH_REDIS_REST_TOKEN',
  upstashSecretArn: 'UPSTASH_SECRET_ARN',
  streamKey: 'STREAM_KEY',
  consumerGroup: 'CONSUMER_GROUP',
  consumerName: 'CONSUMER_NAME',
  batchSize: 'BATCH_SIZE',
  blockMs: 'BLOCK_MS',
  maxAttempts: 'MAX_ATTEMPTS',
  retryBaseMs: 'RETRY_BASE_MS',
  futureSkewMs: 'FUTURE_SKEW_MS',
  reconcileGraceMs: 'RECONCILE_GRACE_MS',
  timeMarginMs: 'TIME_MARGIN_MS',
  dlqUrl: 'DLQ_URL',
  ingestFallbackQueueUrl: 'INGEST_FALLBACK_QUEUE_URL',
  sqsEndpoint: 'SQS_ENDPOINT',
  adminToken: 'ADMIN_TOKEN',
  port: 'PORT',
} as const;

export type EnvKey = (typeof ENV)[keyof typeof ENV];
