// The migrations a database that never had the original service's schema gets, in order: tests name
// them from the files, so adding a migration does not rewrite every test that applies the schema.
import { loadMigrations } from '../../lambdas/adapters/migration-files.ts';
import { applyCondition } from '../../lambdas/core/migrations.ts';

/** Versions applied to a fresh database (conditional ones such as 000_from_original are skipped). */
export const FRESH_MIGRATIONS: readonly string[] = loadMigrations()
  .filter((migration) => applyCondition(migration) === undefined)
  .map((migration) => migration.version);
