// cdk-nag's AWS Solutions checks over every deployment variant: no unacknowledged finding, and every
// acknowledgement carries a written reason and still matches a real finding (no stale suppressions).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnResource, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromContext } from '../../lib/config.ts';
import { EventFlowStack } from '../../lib/eventflow-stack.ts';

// The nag plugin is ours; CDK's own WASM template validation is exercised by bundling.test.ts.
process.env.CDK_VALIDATION = 'false';

const CDK_JSON_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<
  string,
  unknown
>;

const VARIANTS: Record<string, Record<string, unknown>> = {
  'defaults (Upstash, scheduled, destroy)': {},
  'ElastiCache, continuous, retained, alarm email, producer keys': {
    redisBackend: 'elasticache',
    producers: 'shop,billing',
    consumerMode: 'continuous',
    workers: '12',
    removalPolicy: 'retain',
    alarmEmail: 'ops@example.com',
  },
  'prod stage defaults': { stage: 'prod' },
  LocalStack: { localstack: 'true' },
};

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** The app exactly as bin/eventflow.ts builds it, minus bundling. */
function buildApp(context: Record<string, unknown>): { app: App; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk.out.eventflow-nag-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
  const config = configFromContext(app.node);
  new EventFlowStack(app, `EventFlow-${config.stage}`, { config });
  return { app, outdir };
}

interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every AwsSolutions acknowledgement recorded in the construct tree. */
function acknowledgements(root: IConstruct): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [qualified, reason] of Object.entries(entry.data as Record<string, string>)) {
        const id = qualified.replace(/^annotation::/i, '');
        if (id.startsWith('AwsSolutions-')) out.push({ path: construct.node.path, id, reason });
      }
    }
  }
  return out;
}

/** Runs the pack directly, recording which acknowledgements it actually consulted and honoured. */
function runPack(app: App) {
  const pack = new AwsSolutionsChecks();
  const honoured: { resourcePath: string; ruleId: string }[] = [];
  const hooks = pack as unknown as { isAcknowledged(resource: CfnResource, ruleId: string): boolean };
  const original = hooks.isAcknowledged.bind(pack);
  hooks.isAcknowledged = (resource, ruleId) => {
    const hit = original(resource, ruleId);
    if (hit) honoured.push({ resourcePath: resource.node.path, ruleId });
    return hit;
  };
  return { report: pack.validateScope(app), honoured };
}

describe.each(Object.entries(VARIANTS))('cdk-nag AwsSolutions: %s', (_name, context) => {
  it('synthesizes with the checks registered as bin/eventflow.ts does, with no error or warning', () => {
    const { app, outdir } = buildApp(context);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
    // Warnings do not fail synth, so read them from the report CDK writes.
    let report: { pluginReports: { pluginName: string; violations: unknown[] }[] } = { pluginReports: [] };
    try {
      report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
    } catch {
      // no report file: nothing to report
    }
    expect(report.pluginReports.flatMap((p) => p.violations)).toEqual([]);
  });

  it('has a written reason on every acknowledgement, and each one matches a finding it suppresses', () => {
    const { app } = buildApp(context);
    app.synth();
    const { report, honoured } = runPack(app);
    expect(report.violations).toEqual([]);
    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.trim().length, `${ack.id} at ${ack.path}`).toBeGreaterThan(30);
      const used = honoured.some(
        (h) => h.ruleId === ack.id && (h.resourcePath === ack.path || h.resourcePath.startsWith(`${ack.path}/`)),
      );
      expect(used, `stale acknowledgement ${ack.id} at ${ack.path}`).toBe(true);
    }
  });
});
