// The bench's prices per request, derived from the one price list the project keeps
// (scripts/lib/cost-model.ts, which docs/DEPLOY.md's table also uses): change prices there, once.
import { DEFAULT_STACK_SETTINGS, PRICES_US_EAST_1 } from '../lib/cost-model.ts';

/** The day the price list was recorded. */
export const PRICES_DATE = PRICES_US_EAST_1.asOf;

const M = 1e6;
export const PRICES = {
  lambdaPerGbSecond: PRICES_US_EAST_1.lambdaGbSecond,
  lambdaPerRequest: PRICES_US_EAST_1.lambdaRequestsPerMillion / M,
  restApiPerRequest: PRICES_US_EAST_1.apiGatewayRestPerMillion / M,
  /** A Data API call whose request plus response exceeds 32 KB counts once per 32 KB started. */
  dataApiPerRequest: PRICES_US_EAST_1.dataApiPerMillion / M,
  /** Each command of a pipeline counts. */
  upstashPerCommand: PRICES_US_EAST_1.upstashPerMillionCommands / M,
  sqsPerRequest: PRICES_US_EAST_1.sqsPerMillion / M,
} as const;

/** Memory of the ingest and consumer functions (as the stack deploys them), for the GB-s figure. */
export const LAMBDA_MEMORY_GB = DEFAULT_STACK_SETTINGS.lambdaMemoryMb / 1024;

/** Lambda bills duration in 1 ms steps, rounded up per invocation. */
export function lambdaCost(invocations: number, billedMs: number, memoryGb = LAMBDA_MEMORY_GB): number {
  return invocations * PRICES.lambdaPerRequest + (billedMs / 1000) * memoryGb * PRICES.lambdaPerGbSecond;
}
