import { describe, expect, it } from 'vitest';
import { splitStatements, toPositional } from '../../lambdas/shared/sql-text.ts';

describe('toPositional', () => {
  it('numbers each name once, in order of first use', () => {
    expect(toPositional('SELECT :a, :b, :a')).toEqual({ text: 'SELECT $1, $2, $1', names: ['a', 'b'] });
  });

  it('leaves casts, quoted text, comments and dollar bodies alone', () => {
    const sql = 'SELECT :x::jsonb, \':no\', "a:b", $$ :no $$, $t$ :no $t$ -- :no\n/* :no */ FROM t WHERE c = :y';
    const { text, names } = toPositional(sql);
    expect(names).toEqual(['x', 'y']);
    expect(text).toBe('SELECT $1::jsonb, \':no\', "a:b", $$ :no $$, $t$ :no $t$ -- :no\n/* :no */ FROM t WHERE c = $2');
  });

  it('handles doubled quotes inside literals', () => {
    expect(toPositional("SELECT 'it''s :no', :yes").names).toEqual(['yes']);
  });
});

describe('splitStatements', () => {
  it('splits at top-level semicolons and drops comments', () => {
    const script = "-- header; not a statement\nCREATE TABLE a (x text DEFAULT ';');\n/* ; */ SELECT $$;$$;\n";
    expect(splitStatements(script)).toEqual(["CREATE TABLE a (x text DEFAULT ';')", 'SELECT $$;$$']);
  });
});

describe('sqlSegments', () => {
  it('keeps every character, in order, and marks what is opaque', async () => {
    const { sqlSegments } = await import('../../lambdas/shared/sql-text.ts');
    const sql = "SELECT 'a;b', $x$ ; $x$ /* c */ -- d\n; :p";
    const segments = sqlSegments(sql);
    expect(segments.map((s) => s.text).join('')).toBe(sql);
    expect(segments.filter((s) => s.kind !== 'code').map((s) => s.text)).toEqual(["'a;b'", '$x$ ; $x$', '/* c */', '-- d']);
  });
});
