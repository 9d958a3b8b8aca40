// A synth as `cdk synth` runs it (local esbuild bundling, CDK's template validation, cdk-nag), to
// check what the uploaded bundles contain. One shared synth (~10 s); never deploys or invokes.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromContext } from '../../lib/config.ts';
import { EventFlowStack } from '../../lib/eventflow-stack.ts';
import { MIGRATIONS_BUNDLE_DIR, MIGRATIONS_SOURCE_DIR } from '../../lib/migrations.ts';

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON is untyped by nature
type Cfn = any;

const REPO = new URL('../../', import.meta.url);
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(new URL('cdk.json', REPO), 'utf8')).context as Record<string, unknown>;

let outdir: string;
let stack: EventFlowStack;
let template: Record<string, Cfn>;

beforeAll(() => {
  delete process.env.CDK_VALIDATION; // run CDK's own template validation, as the CLI does
  outdir = mkdtempSync(join(tmpdir(), 'cdk.out.eventflow-bundling-'));
  const app = new App({ outdir, context: CDK_JSON_CONTEXT });
  const config = configFromContext(app.node);
  stack = new EventFlowStack(app, `EventFlow-${config.stage}`, { config });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  template = assembly.getStackByName(stack.stackName).template;
}, 60_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/** The asset folder holding a function's bundle. */
function bundleDir(fn: IConstruct): string {
  const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
  const key: string = template.Resources[logicalId].Properties.Code.S3Key;
  return join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
}

const functions = () => ({
  ingest: stack.ingest.handler,
  consumer: stack.consumer.handler,
  migrate: stack.node.findChild('Migrations').node.findChild('Handler'),
});

describe('bundles from a real synth', () => {
  it.each(['ingest', 'consumer', 'migrate'] as const)(
    'bundles the %s handler as minified ESM with the require shim and a source map',
    (name) => {
      const dir = bundleDir(functions()[name]);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire } from 'module'; const require = createRequire(import.meta.url);")).toBe(
        true,
      );
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      // Minified: long lines (only template literals and legal comments keep their newlines).
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    },
  );

  it('ships every SQL migration beside the migrate bundle, where the handler reads them', () => {
    const expected = readdirSync(new URL(`${MIGRATIONS_SOURCE_DIR}/`, REPO))
      .filter((f) => f.endsWith('.sql'))
      .sort();
    expect(expected.length).toBeGreaterThan(0);
    const shipped = join(bundleDir(functions().migrate), MIGRATIONS_BUNDLE_DIR);
    expect(readdirSync(shipped).sort()).toEqual(expected);
    for (const file of expected) {
      expect(readFileSync(join(shipped, file), 'utf8')).toBe(
        readFileSync(new URL(`${MIGRATIONS_SOURCE_DIR}/${file}`, REPO), 'utf8'),
      );
    }
  });

  it('leaves the embedded PGlite out of every bundle (Lambda uses the Data API)', () => {
    for (const fn of Object.values(functions())) {
      const files = readdirSync(bundleDir(fn));
      expect(files.some((f) => f.endsWith('.wasm') || f.endsWith('.data'))).toBe(false);
    }
  });

  it("passes CDK's template validation and cdk-nag with nothing to report", () => {
    const reportFile = join(outdir, 'validation-report.json');
    const report = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : { pluginReports: [] };
    expect(report.pluginReports.flatMap((p: { violations: unknown[] }) => p.violations)).toEqual([]);
  });
});
