// Applies the versioned SQL migrations through any SqlExecutor (pg, PGlite, Data API), once each,
// serialized by an advisory lock so concurrent deploys/starts cannot apply one twice.
import type { SqlExecutor } from '../ports.ts';

export interface Migration {
  /** File name without extension, e.g. "001_initial"; applied in lexical order. */
  readonly version: string;
  readonly sql: string;
}

const MIGRATION_LOCK = 7_307_001;

/**
 * Splits a script into statements at top-level semicolons (the Data API runs one statement a call).
 * Quotes, comments and dollar-quoted bodies are respected.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < script.length) {
    const ch = script[i] as string;
    const rest = script.slice(i);
    let token = ch;
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length && !(script[j] === ch && script[j + 1] !== ch)) j += script[j] === ch ? 2 : 1;
      token = script.slice(i, j + 1);
    } else if (rest.startsWith('--')) {
      const end = script.indexOf('\n', i);
      token = script.slice(i, end === -1 ? script.length : end);
      token = ''; // comments are dropped
      i = end === -1 ? script.length : end;
      continue;
    } else if (rest.startsWith('/*')) {
      const end = script.indexOf('*/', i + 2);
      i = end === -1 ? script.length : end + 2;
      continue;
    } else if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(rest);
      if (tag) {
        const end = script.indexOf(tag[0], i + tag[0].length);
        token = script.slice(i, end === -1 ? script.length : end + tag[0].length);
      }
    } else if (ch === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += token;
    i += token.length;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
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
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version) VALUES (:version)', { version: migration.version });
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}
