// The tests run on the Node the Lambdas run: the pinned `node` devDependency is first on npm's PATH.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVICE_VERSION } from '../../lambdas/ingest/routes/service.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
  engines: { node: string };
};

describe('the runtime the tests run on', () => {
  it('is Node 24, the Lambda runtime (nodejs24.x), from the project own node devDependency', () => {
    expect(process.versions.node.split('.')[0]).toBe('24');
    expect(pkg.devDependencies.node).toBe(process.versions.node);
  });

  it('matches what the stack deploys', () => {
    const fn = readFileSync(new URL('../../lib/eventflow-function.ts', import.meta.url), 'utf8');
    expect(fn).toContain('Runtime.NODEJS_24_X');
    expect(pkg.engines.node).toMatch(/^>=24/);
  });
});

describe('the version the API reports', () => {
  it("is package.json's (GET / and GET /health show it)", () => {
    expect(SERVICE_VERSION).toBe(pkg.version);
  });
});
