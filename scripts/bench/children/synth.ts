// Child process of the bench: synthesizes the stack as `cdk synth` does (cdk.json context, local esbuild bundling)
// into the folder given as EF_SYNTH_OUT, and prints one JSON line naming each Lambda's bundle folder. Run with
// `node --import tsx`; a child so aws-cdk-lib never loads into the bench's own process (and its RSS figures).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { configFromContext } from '../../../lib/config.ts';
import { EventFlowStack } from '../../../lib/eventflow-stack.ts';

const outdir = process.env.EF_SYNTH_OUT;
if (!outdir) throw new Error('EF_SYNTH_OUT is required');
const root = new URL('../../../', import.meta.url);
process.chdir(root.pathname);
const context = JSON.parse(readFileSync(new URL('cdk.json', root), 'utf8')).context as Record<string, unknown>;
const app = new App({ outdir, context });
const config = configFromContext(app.node);
const stack = new EventFlowStack(app, `EventFlow-${config.stage}`, { config });
const template = app.synth().getStackByName(stack.stackName).template as {
  Resources: Record<string, { Properties: { Code: { S3Key: string } } }>;
};
const bundleDir = (fn: IConstruct) => {
  const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
  const key = template.Resources[logicalId]?.Properties.Code.S3Key ?? '';
  return join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
};
const bundles = {
  ingest: bundleDir(stack.ingest.handler),
  consumer: bundleDir(stack.consumer.handler),
  migrate: bundleDir(stack.node.findChild('Migrations').node.findChild('Handler')),
};
process.stdout.write(`${JSON.stringify({ redisBackend: config.redisBackend, bundles })}\n`);
