// Reading SQL text the way Postgres does, once: quoted strings and identifiers, comments and
// dollar-quoted bodies are opaque. Named parameters and statement splitting both build on it. Pure.

export type SqlSegmentKind = 'code' | 'quoted' | 'comment';

export interface SqlSegment {
  readonly kind: SqlSegmentKind;
  readonly text: string;
}

/** End (exclusive) of a quoted run starting at `start`; a doubled quote is an escaped one. */
function quotedEnd(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else i++;
  }
  return sql.length;
}

/** Splits SQL into code, quoted ('…', "…", $tag$…$tag$) and comment (line and block) segments, in order. */
export function sqlSegments(sql: string): SqlSegment[] {
  const segments: SqlSegment[] = [];
  let codeStart = 0;
  let i = 0;
  const push = (kind: SqlSegmentKind, end: number) => {
    if (i > codeStart) segments.push({ kind: 'code', text: sql.slice(codeStart, i) });
    segments.push({ kind, text: sql.slice(i, end) });
    i = end;
    codeStart = end;
  };
  while (i < sql.length) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') push('quoted', quotedEnd(sql, i, ch));
    else if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      push('comment', end === -1 ? sql.length : end);
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      push('comment', end === -1 ? sql.length : end + 2);
    } else if (ch === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        push('quoted', end === -1 ? sql.length : end + tag[0].length);
      } else i++;
    } else i++;
  }
  if (i > codeStart) segments.push({ kind: 'code', text: sql.slice(codeStart) });
  return segments;
}

export interface PositionalSql {
  readonly text: string;
  /** Parameter names in position order ($1 is names[0]). */
  readonly names: string[];
}

/**
 * Rewrites `:name` placeholders to `$1…` for drivers that only know positions; the same name keeps
 * its number. `::casts` and anything in quotes or comments are left alone.
 */
export function toPositional(sql: string): PositionalSql {
  const names: string[] = [];
  const text = sqlSegments(sql)
    .map((segment) =>
      segment.kind !== 'code'
        ? segment.text
        : segment.text.replace(/::|:([A-Za-z_][A-Za-z0-9_]*)/g, (match, name: string | undefined) => {
            if (!name) return match;
            let index = names.indexOf(name);
            if (index === -1) index = names.push(name) - 1;
            return `$${index + 1}`;
          }),
    )
    .join('');
  return { text, names };
}

/** Splits a script into statements at top-level semicolons, dropping comments (the Data API runs one statement a call). */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  for (const segment of sqlSegments(script)) {
    if (segment.kind === 'comment') continue;
    if (segment.kind === 'quoted') {
      current += segment.text;
      continue;
    }
    const parts = segment.text.split(';');
    current += parts[0];
    for (const part of parts.slice(1)) {
      if (current.trim()) statements.push(current.trim());
      current = part;
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}
