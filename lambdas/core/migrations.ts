// Applies the versioned SQL migrations through any SqlExecutor (pg, PGlite, Data API), once each,
// serialized by an advisory lock so concurrent deploys/starts cannot apply one twice.
import type { SqlExecutor } from '../ports.ts';
import { splitStatements } from '../sql-text.ts';

export interface Migration {
  /** File name without extension, e.g. "001_initial"; applied in lexical order. */
  readonly version: string;
  readonly sql: string;
}

const MIGRATION_LOCK = 7_307_001;

/** Applies pending migrations; returns the versions applied now (empty when up to date). */
export async function migrate(sql: SqlExecutor, migrations: readonly Migration[]): Promise<string[]> {
  await sql.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const ordered = [...migrations].sort((a, b) => a.version.localeCompare(b.version));
  const applied: string[] = [];
  for (const migration of ordered) {
    const done = await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(:lock)', { lock: MIGRATION_LOCK });
      const existing = await tx.query('SELECT 1 FROM schema_migrations WHERE version = :version', {
        version: migration.version,
      });
      if (existing.rows.length > 0) return false;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES (:version)', { version: migration.version });
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
