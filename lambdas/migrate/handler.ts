// Lambda entry for the deploy-time migration trigger: applies schemas/migrations (copied beside the
// bundle as ./migrations) through the configured SQL driver. Idempotent; safe to run on every deploy.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadMigrations, MIGRATIONS_DIR } from '../adapters/migration-files.ts';
import { loadConfig } from '../config.ts';
import { migrate } from '../core/migrations.ts';
import { createSqlExecutor } from '../deps.ts';

/** Beside the bundle in Lambda; the repo's folder when run from source. */
function migrationsDir(): string {
  const besideBundle = fileURLToPath(new URL('./migrations/', import.meta.url));
  return existsSync(besideBundle) ? besideBundle : MIGRATIONS_DIR;
}

export async function handler(): Promise<{ applied: string[] }> {
  const sql = await createSqlExecutor(loadConfig());
  try {
    return { applied: await migrate(sql, loadMigrations(migrationsDir())) };
  } finally {
    await sql.close();
  }
}
