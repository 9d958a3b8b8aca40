// CDK app entry: reads the context into a validated config, instantiates the one EventFlow stack and
// runs cdk-nag's AWS Solutions checks at synth. Nothing else belongs here (see lib/).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContextError, configFromContext, type EventFlowConfig } from '../lib/config.ts';
import { EventFlowStack } from '../lib/eventflow-stack.ts';

const app = new App();
let config: EventFlowConfig;
try {
  config = configFromContext(app.node);
} catch (error) {
  if (!(error instanceof ContextError)) throw error;
  // A bad -c value is the operator's to fix: one line per key, no stack trace.
  console.error(error.message);
  process.exit(1);
}
new EventFlowStack(app, `EventFlow-${config.stage}`, {
  config,
  description: `EventFlow serverless event pipeline (${config.stage})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
