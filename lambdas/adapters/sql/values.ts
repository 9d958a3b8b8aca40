// Parameter and row conversions shared by the positional-driver adapters (pg, PGlite), so both
// hand the database the same values and give the pipeline the same row shapes (see SqlRow).
import type { SqlParam, SqlParams, SqlRow } from '../../ports.ts';

export function toDriverValue(value: SqlParam): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') {
    if ('json' in value) return JSON.stringify(value.json);
    if ('uuid' in value) return value.uuid;
  }
  return value;
}

export function positionalValues(names: readonly string[], params: SqlParams | undefined): unknown[] {
  return names.map((name) => {
    if (!params || !Object.hasOwn(params, name)) throw new Error(`SQL parameter :${name} was not given`);
    return toDriverValue(params[name] as SqlParam);
  });
}

/** Dates (timestamptz) become ISO strings with Z; everything else is kept. */
export function normalizeRow(row: Record<string, unknown>): SqlRow {
  const out: SqlRow = {};
  for (const [key, value] of Object.entries(row)) out[key] = value instanceof Date ? value.toISOString() : value;
  return out;
}
