// CDK app entry: reads the context into a validated config, instantiates the one EventFlow stack and
// runs cdk-nag's AWS Solutions checks at synth. Nothing else belongs here (see lib/).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.ts';
import { EventFlowStack } from '../lib/eventflow-stack.ts';

const app = new App();
const config = configFromContext(app.node);
new EventFlowStack(app, `EventFlow-${config.stage}`, {
  config,
  description: `EventFlow serverless event pipeline (${config.stage})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
