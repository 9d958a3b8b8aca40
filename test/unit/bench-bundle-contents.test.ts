// Specification of the bench's bundle report: bytes of a minified bundle attributed to packages through its source map.
import { describe, expect, it } from 'vitest';
import { bytesByPackage, packageOf, sourceLocator } from '../../scripts/bench/lib/bundle-contents.ts';

describe('bundle contents from a source map', () => {
  // One line, "aaaa" from a package and "bbbbbb" from the project; then a second line from the package again.
  const code = 'aaaabbbbbb\ncc';
  const map = {
    sources: ['../../node_modules/@scope/pkg/dist/a.js', '../../work/repo/lambdas/core/drain.ts'],
    // line 0: col 0 → source 0; col +4 → source +1. line 1: col 0 → source -1 (back to 0).
    mappings: 'AAAA,ICAA;ADAA',
  };

  it('names the npm package, or the project folder, a source belongs to', () => {
    expect(packageOf('../node_modules/zod/v4/core/api.js')).toBe('zod');
    expect(packageOf('../../node_modules/@smithy/core/dist-es/x.js')).toBe('@smithy/core');
    expect(packageOf('../../../work/wt/lambdas/core/drain.ts')).toBe('lambdas/core');
    expect(packageOf('../../../work/wt/lambdas/config.ts')).toBe('lambdas');
    expect(packageOf('../../schemas/event.ts')).toBe('schemas');
    expect(packageOf('../../../work/wt/lambdas/adapters/sql/data-api.ts')).toBe('lambdas/adapters');
  });

  it('attributes every byte of the bundle, newlines included, to the source its segment maps to', () => {
    const parts = new Map(bytesByPackage(code, map));
    expect(parts.get('@scope/pkg')).toBe(4 + 2);
    expect(parts.get('lambdas/core')).toBe(6 + 1);
    expect([...parts.values()].reduce((a, b) => a + b, 0)).toBe(code.length);
  });

  it('locates the source of a generated position', () => {
    const locate = sourceLocator(map);
    expect(locate(0, 2)).toBe(map.sources[0]);
    expect(locate(0, 9)).toBe(map.sources[1]);
    expect(locate(1, 1)).toBe(map.sources[0]);
    expect(locate(5, 0)).toBeNull();
  });
});
