// `npm run migrate`: applies schemas/migrations to the configured database (DATABASE_URL, the
// embedded database, or the Data API), idempotently, and says what it did.

import { createSqlExecutor } from '../lambdas/adapters/deps.ts';
import { loadMigrations } from '../lambdas/adapters/migration-files.ts';
import { loadConfig } from '../lambdas/config/config.ts';
import { migrate } from '../lambdas/core/migrations.ts';
import { describeSql } from './lib/local-stack.ts';

const config = loadConfig();
const sql = await createSqlExecutor(config);
try {
  const applied = await migrate(sql, loadMigrations());
  console.log(
    applied.length ? `applied ${applied.join(', ')} to ${describeSql(config)}` : `${describeSql(config)} is up to date`,
  );
} catch (error) {
  console.error(`eventflow migrate: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await sql.close();
}
