// Aurora Serverless v2 PostgreSQL with the Data API, credentials in Secrets Manager; or, for
// LocalStack, the local Data API endpoint. Must never open a network path to the database port.
import { ArnFormat, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, type EnvKey } from '../lambdas/config/keys.ts';
import type { SqlTarget } from './eventflow-function.ts';
import type { Network } from './network.ts';

/** The database every migration and query uses. */
export const DATABASE_NAME = 'eventflow';

/**
 * The Data API calls lambdas/adapters/sql/data-api.ts makes, and nothing else (no BatchExecuteStatement:
 * batches are one multi-row statement). test/infra/stack.test.ts checks this list against the adapter.
 */
export const DATA_API_ACTIONS = [
  'rds-data:ExecuteStatement',
  'rds-data:BeginTransaction',
  'rds-data:CommitTransaction',
  'rds-data:RollbackTransaction',
];

/**
 * Aurora PostgreSQL version, pinned (see the cluster below). 17.4+ has both the Data API and
 * auto-pause (min 0 ACU); the version must be offered in the target region.
 */
export const ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_17_7;

export interface DatabaseProps {
  /** Required unless `localDataApiEndpoint` is set. */
  readonly network?: Network;
  readonly minAcu: number;
  readonly maxAcu: number;
  readonly removalPolicy: RemovalPolicy;
  readonly deletionProtection: boolean;
  /** LocalStack: no cluster; the Lambdas call this Data-API-compatible endpoint instead. */
  readonly localDataApiEndpoint?: string;
}

export class Database extends Construct implements SqlTarget {
  /** Undefined in the LocalStack target. */
  readonly cluster?: rds.DatabaseCluster;
  readonly sqlEnvironment: Readonly<Partial<Record<EnvKey, string>>>;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    if (props.localDataApiEndpoint) {
      // The local endpoint ignores ARNs, but config.ts requires them for SQL_DRIVER=data-api: give
      // well-formed ones that point nowhere real.
      const stack = Stack.of(this);
      this.sqlEnvironment = {
        [ENV.sqlDriver]: 'data-api',
        [ENV.dbClusterArn]: stack.formatArn({
          service: 'rds',
          resource: 'cluster',
          resourceName: 'eventflow-local',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
        [ENV.dbSecretArn]: stack.formatArn({
          service: 'secretsmanager',
          resource: 'secret',
          resourceName: 'eventflow-local',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
        [ENV.dbName]: DATABASE_NAME,
        [ENV.rdsDataEndpoint]: props.localDataApiEndpoint,
      };
      return;
    }
    if (!props.network) throw new Error('Database: a network is required for the Aurora cluster');

    const cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: ENGINE_VERSION }),
      // Pinned version, no automatic minor upgrades: the template then always states the version the
      // cluster runs (an AWS-applied upgrade would make the next deploy try to go back and fail).
      // Upgrading is a code change (ENGINE_VERSION) and a deploy; docs/DEPLOY.md says how.
      writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false, autoMinorVersionUpgrade: false }),
      serverlessV2MinCapacity: props.minAcu,
      serverlessV2MaxCapacity: props.maxAcu,
      enableDataApi: true,
      defaultDatabaseName: DATABASE_NAME,
      credentials: rds.Credentials.fromGeneratedSecret('eventflow_admin'),
      storageEncrypted: true,
      // No IAM database authentication: nothing connects to Postgres directly (the Data API signs in
      // with the cluster secret), so an IAM auth path would be an unused way in.
      iamAuthentication: false,
      backup: { retention: Duration.days(7) },
      deletionProtection: props.deletionProtection,
      removalPolicy: props.removalPolicy,
      vpc: props.network.vpc,
      vpcSubnets: props.network.isolatedSubnets,
      copyTagsToSnapshot: true,
    });
    this.cluster = cluster;
    // The generated secret does not inherit the cluster's policy: a retained cluster must keep it.
    (cluster.node.findChild('Secret') as secretsmanager.Secret).applyRemovalPolicy(props.removalPolicy);
    const secret = cluster.secret;
    if (!secret) throw new Error('Database: the cluster has no generated secret');
    this.sqlEnvironment = {
      [ENV.sqlDriver]: 'data-api',
      [ENV.dbClusterArn]: cluster.clusterArn,
      [ENV.dbSecretArn]: secret.secretArn,
      [ENV.dbName]: DATABASE_NAME,
    };

    // cluster.secret is the attachment; the secret resource itself is the cluster's `Secret` child.
    Validations.of(cluster.node.findChild('Secret')).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotation needs a rotation Lambda with network access to the cluster (a Secrets Manager endpoint and an ingress rule in an otherwise closed VPC). The Data API reads the secret on every call, so rotation can be enabled later without code changes; docs/DEPLOY.md says how.',
    });
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS6',
      reason:
        'IAM database authentication is off on purpose: no client connects to Postgres directly. Every Lambda uses the Data API, which IAM authorizes (rds-data actions scoped to this cluster) and which signs in with the cluster secret; an IAM token login would be an unused extra way in.',
    });
    if (!props.deletionProtection) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason:
          'Deletion protection follows the removalPolicy context: off only when removalPolicy=destroy was chosen (non-prod stages by default) so that `cdk destroy` can remove the stage.',
      });
    }
  }

  grantDataApi(grantee: iam.IGrantable): void {
    const cluster = this.cluster;
    const secret = cluster?.secret;
    if (!cluster || !secret) return; // LocalStack: the local endpoint needs no IAM.
    iam.Grant.addToPrincipal({ grantee, actions: DATA_API_ACTIONS, resourceArns: [cluster.clusterArn] });
    // GetSecretValue only: the Data API reads the credentials as the caller (no DescribeSecret, no KMS:
    // the secret uses the account's AWS managed key).
    iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: [secret.secretArn] });
  }

  /** The resources a migration must wait for (the cluster and its writer instance). */
  get readiness(): Construct[] {
    return this.cluster ? [this.cluster] : [];
  }
}
