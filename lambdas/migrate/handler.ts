// Lambda entry for the deploy-time migration trigger: applies schemas/migrations (copied beside the
// bundle as ./migrations) through the configured SQL driver. Idempotent; safe to run on every deploy.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { createSqlExecutor } from '../adapters/deps.ts';
import { loadMigrations, MIGRATIONS_DIR } from '../adapters/migration-files.ts';
import { loadConfig } from '../config/config.ts';
import { migrate } from '../core/migrations.ts';
import { isTransientDeployError, retryWithinBudget } from './wait-for-database.ts';

/**
 * Time kept back from the invocation for the last attempt (several Data API calls) and the answer to
 * the CDK trigger; waits stop this long before the function's timeout (lib/migrations.ts: 5 min).
 */
export const RESERVE_MS = 45_000;
/** Budget when run outside Lambda (no context), e.g. from a test or a script. */
const DEFAULT_BUDGET_MS = 5 * 60_000;

/** Beside the bundle in Lambda; the repo's folder when run from source. */
function migrationsDir(): string {
  const besideBundle = fileURLToPath(new URL('./migrations/', import.meta.url));
  return existsSync(besideBundle) ? besideBundle : MIGRATIONS_DIR;
}

export async function handler(
  _event?: unknown,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ applied: string[] }> {
  const deadline = Date.now() + DEFAULT_BUDGET_MS;
  const remainingMs = context ? () => context.getRemainingTimeInMillis() : () => deadline - Date.now();
  const sql = await createSqlExecutor(loadConfig());
  try {
    // A new cluster, or one resuming from auto-pause, answers "not yet" in several ways for seconds
    // to minutes (lambdas/migrate/wait-for-database.ts lists them): keep trying within the budget.
    const applied = await retryWithinBudget(() => migrate(sql, loadMigrations(migrationsDir())), {
      remainingMs,
      reserveMs: RESERVE_MS,
      baseMs: 1000,
      maxDelayMs: 15_000,
      isRetryable: isTransientDeployError,
      onRetry: (error, attempt, delayMs) =>
        console.warn(`migrate: attempt ${attempt} failed (${String(error)}); retrying in ${delayMs} ms`),
    });
    return { applied };
  } finally {
    await sql.close();
  }
}
