// Reads the SQL migration files from a folder (schemas/migrations in the repo, ./migrations beside
// a Lambda bundle). File I/O only; applying them is core/migrations.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Migration } from '../core/migrations.ts';

/** The repo's migrations folder. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../schemas/migrations', import.meta.url));

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ version: name.replace(/\.sql$/, ''), sql: readFileSync(join(dir, name), 'utf8') }));
}
