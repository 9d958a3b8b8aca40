// The README and .env.example document every variable config.ts reads and every npm script.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/config-keys.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('documentation', () => {
  const readme = read('README.md');
  const example = read('.env.example');

  it.each(Object.values(ENV))('documents %s in README.md and .env.example', (name) => {
    expect(readme).toContain(`\`${name}\``);
    expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('mentions every npm script in the README', () => {
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts as Record<string, string>);
    for (const script of scripts) expect(readme, script).toMatch(new RegExp(`npm (run )?${script.replace(':', '\\:')}\\b`));
  });
});
