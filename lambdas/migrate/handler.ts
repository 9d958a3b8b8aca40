// Lambda entry for the deploy-time migration trigger: applies schemas/migrations (copied beside the
// bundle as ./migrations) through the configured SQL driver. Idempotent; safe to run on every deploy.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadMigrations, MIGRATIONS_DIR } from '../adapters/migration-files.ts';
import { loadConfig } from '../config.ts';
import { migrate } from '../core/migrations.ts';
import { withRetries } from '../core/retry.ts';
import { createSqlExecutor } from '../deps.ts';
import { DependencyUnavailableError } from '../errors.ts';

/** Beside the bundle in Lambda; the repo's folder when run from source. */
function migrationsDir(): string {
  const besideBundle = fileURLToPath(new URL('./migrations/', import.meta.url));
  return existsSync(besideBundle) ? besideBundle : MIGRATIONS_DIR;
}

export async function handler(): Promise<{ applied: string[] }> {
  const sql = await createSqlExecutor(loadConfig());
  try {
    // A paused Aurora Serverless v2 cluster answers DatabaseResumingException for ~15 s; wait it out.
    const applied = await withRetries(() => migrate(sql, loadMigrations(migrationsDir())), {
      attempts: 8,
      baseMs: 1000,
      isRetryable: (error) => error instanceof DependencyUnavailableError,
      onRetry: (error, attempt, delayMs) =>
        console.warn(`migrate: attempt ${attempt} failed (${String(error)}); retrying in ${delayMs} ms`),
    });
    return { applied };
  } finally {
    await sql.close();
  }
}
