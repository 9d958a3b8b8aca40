// The price list the bench turns measured request counts into dollars with: AWS us-east-1 on-demand list prices and
// Upstash pay-as-you-go, as published on the pages below on PRICES_DATE. Free tiers are left out (they are per
// account, not per event). Change the figures and the date together.

/** The day these prices were read from the pages below. */
export const PRICES_DATE = '2026-11-30';

export const PRICES = {
  /** Lambda, arm64, first 7.5 billion GB-s a month (aws.amazon.com/lambda/pricing). */
  lambdaPerGbSecond: 0.000_013_333_4,
  /** Lambda requests, both architectures. */
  lambdaPerRequest: 0.2 / 1e6,
  /** API Gateway REST API, first 333 million requests a month (aws.amazon.com/api-gateway/pricing). */
  restApiPerRequest: 3.5 / 1e6,
  /**
   * RDS Data API on Aurora Serverless v2 / provisioned, first billion requests a month; a call whose request plus
   * response exceeds 32 KB counts once per 32 KB started (aws.amazon.com/rds/aurora/pricing, "Data API").
   */
  dataApiPerRequest: 0.35 / 1e6,
  /** Upstash Redis pay-as-you-go: $0.20 per 100,000 commands; each command of a pipeline counts (upstash.com/pricing/redis). */
  upstashPerCommand: 0.2 / 1e5,
  /** SQS standard queue, after the first million a month; each 64 KB chunk of a payload is a request (aws.amazon.com/sqs/pricing). */
  sqsPerRequest: 0.4 / 1e6,
} as const;

/** Memory of the ingest and consumer functions (lib/eventflow-function.ts default), for the GB-s figure. */
export const LAMBDA_MEMORY_GB = 512 / 1024;

/** Lambda bills duration in 1 ms steps, rounded up per invocation. */
export function lambdaCost(invocations: number, billedMs: number, memoryGb = LAMBDA_MEMORY_GB): number {
  return invocations * PRICES.lambdaPerRequest + (billedMs / 1000) * memoryGb * PRICES.lambdaPerGbSecond;
}
