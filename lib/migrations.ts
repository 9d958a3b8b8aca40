// Deploy-time schema migrations: a trigger runs the migrate Lambda (with schemas/migrations/*.sql in
// its bundle) once the cluster is up. Must never run SQL of its own: the SQL files are the one source.
import { Duration } from 'aws-cdk-lib';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import type { Database } from './database.ts';
import { EventFlowFunction, type FunctionDefaults } from './eventflow-function.ts';

export interface MigrationsProps {
  readonly defaults: FunctionDefaults;
  readonly database: Database;
}

/** Folder of SQL files in the repo, and where the handler expects them beside its bundle. */
export const MIGRATIONS_SOURCE_DIR = 'schemas/migrations';
export const MIGRATIONS_BUNDLE_DIR = 'migrations';

export class Migrations extends Construct {
  readonly handler: EventFlowFunction;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    this.handler = new EventFlowFunction(this, 'Handler', {
      entry: 'lambdas/migrate/handler.ts',
      description: 'EventFlow schema migrations (run by a CDK trigger at deploy)',
      defaults: props.defaults,
      // A fresh cluster can take a while to answer its first Data API call.
      timeout: Duration.minutes(5),
      memorySize: 256,
      // Only the Data API is needed, even when the other Lambdas live in the VPC.
      needsVpc: false,
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        // The bundle's asset hash then covers the SQL too, so a new migration re-runs the trigger.
        afterBundling: (inputDir: string, outputDir: string) => [
          `mkdir -p "${outputDir}/${MIGRATIONS_BUNDLE_DIR}"`,
          `cp "${inputDir}/${MIGRATIONS_SOURCE_DIR}"/*.sql "${outputDir}/${MIGRATIONS_BUNDLE_DIR}/"`,
        ],
      },
    }).bindDatabase(props.database);

    this.trigger = new triggers.Trigger(this, 'Trigger', {
      handler: this.handler,
      executeAfter: props.database.readiness,
      // Re-run on every change of the bundle (code or SQL); the migrations are idempotent.
      executeOnHandlerChange: true,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.minutes(6),
    });
  }
}
