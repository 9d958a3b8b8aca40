// The README and .env.example document every variable config.ts reads, with the default config.ts applies,
// and every npm script.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ORIGINAL_ALIASES } from '../../lambdas/config/aliases.ts';
import { type SettingDoc, settingDocList } from '../../lambdas/config/config.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** The part of `markdown` from the heading `title` to the next heading of the same or a higher level. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`no "${title}" heading`);
  const level = title.split(' ')[0] as string;
  const rest = markdown.slice(start + title.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return end < 0 ? rest : rest.slice(0, end);
}

/** `| \`NAME\` | default | meaning |` rows of a markdown table, by name. */
function tableRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const name = /^\| `([A-Z0-9_]+)` \|/.exec(line)?.[1];
    if (name) rows.set(name, line);
  }
  return rows;
}

/** README's row for a setting, as config.ts describes it. */
function expectedRow(setting: SettingDoc & { name: string }): string {
  const literal = setting.default === undefined ? [] : [`\`${setting.default}\`${setting.unit ? ` ${setting.unit}` : ''}`];
  const defaultCell = [...literal, ...(setting.defaultNote ? [setting.defaultNote] : [])].join('; ') || '—';
  return `| \`${setting.name}\` | ${defaultCell} | ${setting.doc} |`;
}

describe('documentation', () => {
  const readme = read('README.md');
  const example = read('.env.example');
  const settings = settingDocList();

  describe("README's configuration table", () => {
    const rows = tableRows(section(readme, '## Configuration (environment)').split('\n### ')[0] as string);

    it.each(settings)('describes $name with its default and unit as config.ts does', (setting) => {
      expect(rows.get(setting.name), `README.md needs the row:\n${expectedRow(setting)}\n`).toBe(expectedRow(setting));
    });

    it('lists no variable that config.ts does not read', () => {
      expect([...rows.keys()].filter((name) => !settings.some((s) => s.name === name))).toEqual([]);
    });
  });

  describe('.env.example', () => {
    const lines = new Map(
      example
        .split('\n')
        .filter((line) => /^[A-Z0-9_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
    );

    it.each(settings)('lists $name, empty or with its default', (setting) => {
      expect(lines.has(setting.name), `.env.example has no ${setting.name}=`).toBe(true);
      // Empty means "use the default"; a value must be the default, or copying the file would change the behaviour.
      expect(['', setting.default ?? '']).toContain(lines.get(setting.name));
    });

    it('lists no variable that config.ts does not read', () => {
      expect([...lines.keys()].filter((name) => !settings.some((s) => s.name === name))).toEqual([]);
    });
  });

  describe("README's guide to the original's environment names", () => {
    const rows = tableRows(section(readme, '### Moving from the original: environment variables'));

    it.each(ORIGINAL_ALIASES)('says what $name becomes', (alias) => {
      expect(rows.get(alias.name)).toMatch(
        new RegExp(`^\\| \`${alias.name}\` \\| ${alias.ours ? `\`${alias.ours}\`` : '—'} \\| `),
      );
    });

    it('lists no name the config does not accept', () => {
      expect([...rows.keys()].filter((name) => !ORIGINAL_ALIASES.some((alias) => alias.name === name))).toEqual([]);
    });
  });

  it('mentions every npm script in the README', () => {
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts as Record<string, string>);
    for (const script of scripts) expect(readme, script).toMatch(new RegExp(`npm (run )?${script.replace(':', '\\:')}\\b`));
  });
});
