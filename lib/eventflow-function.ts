// The one Lambda construct: NodejsFunction with the house defaults, plus bindX() helpers that grant
// access and set the matching env var in one call. Must never grant `*` where a resource ARN exists.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, type RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { FactName, RegionInfo } from 'aws-cdk-lib/region-info';
import type { Construct } from 'constructs';
import { ENV, type EnvKey } from '../lambdas/config/keys.ts';

/** Repo root: entries, the lock file and esbuild's working directory are resolved from it. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Where VPC-attached functions run (ElastiCache variant only). */
export interface FunctionPlacement {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/** What every EventFlow function shares; built once by the stack. */
export interface FunctionDefaults {
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly logLevel: string;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Set only when the functions must reach something inside the VPC (ElastiCache). */
  readonly placement?: FunctionPlacement;
  /**
   * Driver packages no function of this stack loads (pg always; ioredis or @upstash/redis by
   * redisBackend): aliased to a stub at bundling, so cold starts do not parse them.
   */
  readonly unusedPackages?: readonly string[];
}

export interface EventFlowFunctionProps {
  /** Handler file, relative to the repo root, e.g. `lambdas/ingest/handler.ts`. */
  readonly entry: string;
  readonly description: string;
  readonly defaults: FunctionDefaults;
  readonly timeout: Duration;
  /** @default DEFAULT_MEMORY_MB */
  readonly memorySize?: number;
  readonly reservedConcurrentExecutions?: number;
  /** Put this function in the VPC when the defaults carry a placement. @default true */
  readonly needsVpc?: boolean;
  readonly environment?: Partial<Record<EnvKey, string>>;
  /** Extra bundling steps (the migrate function copies its SQL files). */
  readonly commandHooks?: ICommandHooks;
}

/** What a function needs to use one SQL database; implemented by lib/database.ts. */
export interface SqlTarget {
  /** Env vars the Lambda's config.ts reads for SQL. */
  readonly sqlEnvironment: Readonly<Partial<Record<EnvKey, string>>>;
  /** Grants the Data API calls and the credentials read, scoped to this cluster and secret. */
  grantDataApi(grantee: iam.IGrantable): void;
}

/** What a function needs to use the Redis stream; implemented by lib/stream.ts. */
export interface StreamTarget {
  readonly streamEnvironment: Readonly<Partial<Record<EnvKey, string>>>;
  grantConnect(grantee: iam.IGrantable): void;
}

/** Memory of every function unless it says otherwise (the migrate function takes 256). */
export const DEFAULT_MEMORY_MB = 512;

/** The module unused driver packages are aliased to (relative to the project root). */
export const NOT_BUNDLED_STUB = 'lambdas/adapters/not-bundled.ts';

/**
 * Packages replaced by a smaller module in every bundle (paths relative to the project root). The SDK's default
 * credential chain (SSO, INI files, process, IMDS, web identity, with the STS and SSO clients they need) is about a
 * fifth of a bundle and a fifth of its cold import; Lambda always provides the role's credentials in env vars. The
 * SDK protocols' event-stream codec is imported lazily for streaming operations, which none of ours are.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': 'lambdas/bundling/credentials-from-env.ts',
  '@smithy/core/event-streams': 'lambdas/bundling/no-event-streams.ts',
  // The Upstash secret is read through the Parameters and Secrets extension (bindStream adds it).
  '@aws-sdk/client-secrets-manager': 'lambdas/bundling/no-secrets-manager.ts',
};

/** The Parameters and Secrets extension's version; CDK knows its layer ARN per region and architecture. */
export const SECRETS_EXTENSION_VERSION = lambda.ParamsAndSecretsVersions.V1_0_103;
/** The extension's default port, set explicitly: the Lambdas read the secret through it only when it is set. */
export const SECRETS_EXTENSION_PORT = 2773;

/**
 * Modules generated from source right before bundling, per entry: the bundle imports the result (package.json
 * `imports`, condition BUNDLE_CONDITION) instead of the code that builds it. The ingest API's OpenAPI document
 * needs zod's JSON-schema generator to build, never to serve.
 */
export const GENERATED_BEFORE_BUNDLING: Readonly<Record<string, readonly { script: string; output: string }[]>> = {
  'lambdas/ingest/handler.ts': [{ script: 'scripts/build/openapi-module.ts', output: 'dist/openapi-document.mjs' }],
};

/** The package.json `imports` condition under which bundles resolve generated modules. */
export const BUNDLE_CONDITION = 'eventflow-bundle';

/**
 * Shell commands that write an entry's generated modules, and the files they read beside the bundle, into
 * `outputDir` (absolute paths: the hook's cwd is CDK's).
 */
function generateCommands(entry: string, outputDir: string): string[] {
  const tsx = fileURLToPath(import.meta.resolve('tsx'));
  return (GENERATED_BEFORE_BUNDLING[entry] ?? []).map(
    ({ script, output }) =>
      `"${process.execPath}" --import "${tsx}" "${join(PROJECT_ROOT, script)}" "${join(PROJECT_ROOT, output)}" "${outputDir}"`,
  );
}

// esbuild's ESM output has no `require`; some CommonJS dependencies call it for Node built-ins.
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export class EventFlowFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: EventFlowFunctionProps) {
    super(scope, id, EventFlowFunction.functionProps(scope, id, props));
  }

  /**
   * Builds the NodejsFunction props. The log group and role are created here, beside the function
   * (ids `<id>Logs` and `<id>Role`), because both must exist before the function does.
   */
  private static functionProps(scope: Construct, id: string, props: EventFlowFunctionProps) {
    const { defaults } = props;
    const hooks = props.commandHooks;
    const commandHooks: ICommandHooks | undefined =
      GENERATED_BEFORE_BUNDLING[props.entry] === undefined
        ? hooks
        : {
            beforeBundling: (input, output) => [
              ...generateCommands(props.entry, output),
              ...(hooks?.beforeBundling(input, output) ?? []),
            ],
            beforeInstall: (input, output) => hooks?.beforeInstall(input, output) ?? [],
            afterBundling: (input, output) => hooks?.afterBundling(input, output) ?? [],
          };
    const placement = props.needsVpc === false ? undefined : defaults.placement;
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: defaults.logRetention,
      removalPolicy: defaults.removalPolicy,
    });
    // Own role instead of the AWS managed basic-execution policy: logging is granted on this log
    // group only (the managed policy allows every log group in the account).
    const statements = [
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    ];
    if (placement) {
      statements.push(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${scope.node.path}/${id}`,
      inlinePolicies: { Execution: new iam.PolicyDocument({ statements }) },
    });
    if (placement) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda needs these EC2 network-interface actions to attach to the VPC; AWS supports no resource-level scoping for the Describe actions and documents Resource "*" (same as the AWSLambdaVPCAccessExecutionRole managed policy).',
      });
    }

    return {
      entry: join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      timeout: props.timeout,
      role,
      logGroup,
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      ...(placement ? { vpc: placement.vpc, vpcSubnets: placement.subnets, securityGroups: placement.securityGroups } : {}),
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      projectRoot: PROJECT_ROOT,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.serviceName]: defaults.serviceName,
        [ENV.metricsNamespace]: defaults.metricsNamespace,
        [ENV.logLevel]: defaults.logLevel,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        // Prefer packages' ESM builds: esbuild tree-shakes them far better than CommonJS.
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        // Stack traces need only the mappings; the sources themselves would double the upload.
        sourcesContent: false,
        // Explicit list replaces CDK's default of leaving '@aws-sdk/*' to the runtime: we ship the
        // pinned SDK clients. PGlite and pg-native are reachable in the source graph but never run
        // in Lambda (Data API there), so they stay out of the bundle.
        externalModules: ['@electric-sql/pglite', 'pg-native'],
        esbuildArgs: {
          // `module` is esbuild's default condition, which setting any condition would drop.
          '--conditions': `${BUNDLE_CONDITION},module`,
          ...Object.fromEntries((defaults.unusedPackages ?? []).map((name) => [`--alias:${name}`, `./${NOT_BUNDLED_STUB}`])),
          ...Object.fromEntries(Object.entries(BUNDLE_ALIASES).map(([name, path]) => [`--alias:${name}`, `./${path}`])),
        },
        // Local esbuild (a devDependency) only: there is no Docker on the build machines.
        forceDockerBundling: false,
        ...(commandHooks ? { commandHooks } : {}),
      },
    };
  }

  /** SQL through the Data API: env (cluster, secret, database) plus the scoped grants. */
  bindDatabase(target: SqlTarget): this {
    this.setEnvironment(target.sqlEnvironment);
    target.grantDataApi(this);
    return this;
  }

  /**
   * The Redis stream (Upstash REST or ElastiCache): env plus the secret read when there is one, through the
   * Parameters and Secrets extension (no Secrets Manager client in the bundle).
   */
  bindStream(target: StreamTarget): this {
    this.setEnvironment(target.streamEnvironment);
    target.grantConnect(this);
    if (target.streamEnvironment[ENV.upstashSecretArn] !== undefined) this.addSecretsExtension();
    return this;
  }

  /**
   * The AWS Parameters and Secrets Lambda extension as a layer, with the ARN CDK's region facts hold for this
   * region and architecture (a deploy-time mapping when the stack's region is not known at synth).
   */
  private addSecretsExtension(): void {
    if (this.node.tryFindChild('ParamsAndSecretsLayer')) return;
    const stack = Stack.of(this);
    const architecture = this.architecture.name;
    const arn = Token.isUnresolved(stack.region)
      ? stack.regionalFact(FactName.paramsAndSecretsLambdaLayer(SECRETS_EXTENSION_VERSION, architecture))
      : RegionInfo.get(stack.region).paramsAndSecretsLambdaLayerArn(SECRETS_EXTENSION_VERSION, architecture);
    if (!arn) throw new Error(`no Parameters and Secrets extension layer for ${stack.region} (${architecture})`);
    this.addLayers(lambda.LayerVersion.fromLayerVersionArn(this, 'ParamsAndSecretsLayer', arn));
    this.addEnvironment(ENV.secretsExtensionPort, String(SECRETS_EXTENSION_PORT));
  }

  /**
   * A queue this function only sends to (dead letters, ingest fallback): sqs:SendMessage alone, which
   * also covers SendMessageBatch. The adapter never looks the queue up (it has the URL) nor reads its
   * attributes, so CDK's grantSendMessages (which adds GetQueueAttributes and GetQueueUrl) is too wide.
   */
  bindQueueForSending(envName: EnvKey, queue: sqs.IQueue): this {
    this.addEnvironment(envName, queue.queueUrl);
    queue.grant(this, 'sqs:SendMessage');
    return this;
  }

  /**
   * A queue this function drains and never sends to (the consumer on the ingest fallback queue):
   * ReceiveMessage and DeleteMessage (which covers DeleteMessageBatch), nothing else.
   */
  bindQueueForReceiving(envName: EnvKey, queue: sqs.IQueue): this {
    this.addEnvironment(envName, queue.queueUrl);
    queue.grant(this, 'sqs:ReceiveMessage', 'sqs:DeleteMessage');
    return this;
  }

  setEnvironment(environment: Readonly<Partial<Record<EnvKey, string>>>): this {
    for (const [name, value] of Object.entries(environment)) {
      if (value !== undefined) this.addEnvironment(name, value);
    }
    return this;
  }
}
