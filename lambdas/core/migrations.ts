// Applies the versioned SQL migrations through any SqlExecutor (pg, PGlite, Data API), once each,
// serialized by an advisory lock so concurrent deploys/starts cannot apply one twice. A migration
// may be conditional (`-- eventflow:apply-if <SQL boolean>`): skipped, and not recorded, while false.
import type { SqlExecutor } from '../ports.ts';
import { splitStatements } from '../shared/sql-text.ts';

export interface Migration {
  /** File name without extension, e.g. "001_initial"; applied in lexical order. */
  readonly version: string;
  readonly sql: string;
}

const MIGRATION_LOCK = 7_307_001;

const APPLY_IF = /^--\s*eventflow:apply-if\s+(.+)$/m;

/** The migration's apply-if condition (a SQL boolean expression), if it has one. */
export function applyCondition(migration: Migration): string | undefined {
  return APPLY_IF.exec(migration.sql)?.[1]?.trim();
}

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
      const condition = applyCondition(migration);
      if (condition) {
        // Not recorded when false: it is asked again next time (one cheap query) and stays skipped.
        const check = await tx.query<{ apply: boolean }>(`SELECT (${condition}) AS apply`);
        if (check.rows[0]?.apply !== true) return false;
      }
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES (:version)', { version: migration.version });
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
