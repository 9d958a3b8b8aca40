// The EventFlow stack's specification, read from fast synths (bundling and CDK's template validation
// skipped): functions, API, IAM scoping, data, schedule, queues, observability, outputs, variants.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/config/keys.ts';
import { COUNTERS, GAUGES, HISTOGRAMS } from '../../lambdas/observability/metric-names.ts';
import { CONTEXT_DEFAULTS, configFromContext } from '../../lib/config.ts';
import { DATA_API_ACTIONS } from '../../lib/database.ts';
import { EventFlowStack } from '../../lib/eventflow-stack.ts';
import { DEFAULT_STACK_SETTINGS } from '../../scripts/lib/cost-model.ts';

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON is untyped by nature
type Cfn = any;

// CDK's built-in template validation loads a WASM engine (~6 s); the nag and bundling tests cover it.
process.env.CDK_VALIDATION = 'false';

/** The feature flags `cdk synth` applies (the CLI passes cdk.json's context; a bare App would not). */
const CDK_JSON_CONTEXT = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')).context as Record<
  string,
  unknown
>;

interface Synth {
  readonly stack: EventFlowStack;
  readonly template: Template;
  readonly json: Record<string, Cfn>;
  /** Logical id of a construct's CloudFormation resource. */
  id(construct: IConstruct): string;
}

const outdirs: string[] = [];
const synths = new Map<string, Synth>();

function synth(context: Record<string, unknown> = {}): Synth {
  const key = JSON.stringify(context);
  const cached = synths.get(key);
  if (cached) return cached;
  const outdir = mkdtempSync(join(tmpdir(), 'cdk.out.eventflow-test-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [], ...context } });
  const config = configFromContext(app.node);
  const stack = new EventFlowStack(app, `EventFlow-${config.stage}`, { config });
  const template = Template.fromStack(stack);
  const result: Synth = {
    stack,
    template,
    json: template.toJSON(),
    id: (construct) => {
      const child = (construct.node.defaultChild ?? construct) as CfnElement;
      return stack.getLogicalId(child);
    },
  };
  synths.set(key, result);
  return result;
}

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function resourcesOfType(s: Synth, type: string): [string, Cfn][] {
  return Object.entries(s.json.Resources as Record<string, Cfn>).filter(([, r]) => r.Type === type);
}

function functionProps(s: Synth, fn: IConstruct): Cfn {
  return s.json.Resources[s.id(fn)].Properties;
}

/** The API key of a deploy without producers. */
function sharedKey(s: Synth): IConstruct {
  const [shared] = s.stack.ingest.access;
  if (!shared || shared.producer !== undefined) throw new Error('not a deploy with one shared key');
  return shared.apiKey;
}

function envOf(s: Synth, fn: IConstruct): Record<string, unknown> {
  return functionProps(s, fn).Environment.Variables;
}

/** Every IAM statement in the template: managed-by-CDK default policies and inline role policies. */
function allStatements(s: Synth): Cfn[] {
  const statements: Cfn[] = [];
  for (const [, policy] of resourcesOfType(s, 'AWS::IAM::Policy')) statements.push(...policy.Properties.PolicyDocument.Statement);
  for (const [, role] of resourcesOfType(s, 'AWS::IAM::Role')) {
    for (const inline of role.Properties.Policies ?? []) statements.push(...inline.PolicyDocument.Statement);
  }
  return statements;
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Statements of a role (default policy plus inline policies) that allow Cfn of the given action prefixes. */
function statementsOfRole(s: Synth, roleLogicalId: string, prefix: string): Cfn[] {
  const out: Cfn[] = [];
  for (const [, policy] of resourcesOfType(s, 'AWS::IAM::Policy')) {
    if (!asArray(policy.Properties.Roles).some((r: Cfn) => r.Ref === roleLogicalId)) continue;
    out.push(...policy.Properties.PolicyDocument.Statement);
  }
  for (const inline of s.json.Resources[roleLogicalId].Properties.Policies ?? []) out.push(...inline.PolicyDocument.Statement);
  return out.filter((st) => asArray(st.Action).some((a: string) => a.startsWith(prefix)));
}

/** "METHOD /path" → method properties, with the path rebuilt from the resource tree. */
function routes(s: Synth): Record<string, { apiKeyRequired: boolean; authorization: string }> {
  const resources = Object.fromEntries(resourcesOfType(s, 'AWS::ApiGateway::Resource'));
  const pathOf = (ref: Cfn): string => {
    if (ref['Fn::GetAtt']) return ''; // the root resource
    const r = resources[ref.Ref];
    return `${pathOf(r.Properties.ParentId)}/${r.Properties.PathPart}`;
  };
  const pathOrRoot = (ref: Cfn): string => pathOf(ref) || '/';
  const out: Record<string, { apiKeyRequired: boolean; authorization: string }> = {};
  for (const [, m] of resourcesOfType(s, 'AWS::ApiGateway::Method')) {
    out[`${m.Properties.HttpMethod} ${pathOrRoot(m.Properties.ResourceId)}`] = {
      apiKeyRequired: m.Properties.ApiKeyRequired === true,
      authorization: m.Properties.AuthorizationType,
    };
  }
  return out;
}

describe('Lambda functions', () => {
  const s = synth();
  const fns = {
    ingest: s.stack.ingest.handler,
    consumer: s.stack.consumer.handler,
    migrate: s.stack.node.findChild('Migrations').node.findChild('Handler'),
  };

  it.each(Object.entries(fns))('runs the %s handler on Node.js 24, arm64, as an ESM bundle with source maps', (_name, fn) => {
    const props = functionProps(s, fn);
    expect(props.Runtime).toBe('nodejs24.x');
    expect(props.Architectures).toEqual(['arm64']);
    expect(props.Handler).toBe('index.handler');
    expect(props.Environment.Variables).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      [ENV.serviceName]: 'eventflow-dev',
      [ENV.metricsNamespace]: 'EventFlow',
      [ENV.logLevel]: 'INFO',
    });
  });

  it.each(Object.entries(fns))('gives the %s function its own log group with a retention', (_name, fn) => {
    const logGroupRef = functionProps(s, fn).LoggingConfig.LogGroup.Ref;
    expect(s.json.Resources[logGroupRef]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
  });

  it("uses no AWS managed policy on EventFlow roles (logging is granted on the function's own log group)", () => {
    for (const fn of Object.values(fns)) {
      const roleId = (functionProps(s, fn).Role as Cfn)['Fn::GetAtt'][0];
      expect(s.json.Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
      const logging = statementsOfRole(s, roleId, 'logs:');
      expect(logging).toHaveLength(1);
      expect(logging[0].Resource).toEqual({ 'Fn::GetAtt': [functionProps(s, fn).LoggingConfig.LogGroup.Ref, 'Arn'] });
    }
  });

  it('gives the ingest function the SQL, stream and fallback-queue environment', () => {
    const cluster = s.stack.database.cluster;
    expect(cluster).toBeDefined();
    expect(envOf(s, fns.ingest)).toMatchObject({
      [ENV.sqlDriver]: 'data-api',
      [ENV.dbClusterArn]: s.stack.resolve(cluster?.clusterArn),
      [ENV.dbSecretArn]: s.stack.resolve(cluster?.secret?.secretArn),
      [ENV.dbName]: 'eventflow',
      [ENV.streamDriver]: 'upstash',
      [ENV.upstashSecretArn]: expect.anything(),
      [ENV.streamKey]: 'events',
      [ENV.consumerGroup]: 'workers',
      [ENV.ingestFallbackQueueUrl]: s.stack.resolve(s.stack.queues.ingestFallbackQueue.queueUrl),
    });
    expect(JSON.stringify(envOf(s, fns.ingest)[ENV.upstashSecretArn])).toContain(':secret:eventflow/dev/upstash');
    expect(envOf(s, fns.ingest)).not.toHaveProperty(ENV.upstashToken);
  });

  it('gives the consumer the queues, retry policy and mode from context', () => {
    const c = synth({ batchSize: '250', maxAttempts: 5, retryBaseMs: '1500', consumerMode: 'continuous' });
    expect(envOf(c, c.stack.consumer.handler)).toMatchObject({
      [ENV.dlqUrl]: c.stack.resolve(c.stack.queues.deadLetterQueue.queueUrl),
      [ENV.ingestFallbackQueueUrl]: c.stack.resolve(c.stack.queues.ingestFallbackQueue.queueUrl),
      [ENV.batchSize]: '250',
      [ENV.maxAttempts]: '5',
      [ENV.retryBaseMs]: '1500',
      [ENV.consumerMode]: 'continuous',
      [ENV.sqlDriver]: 'data-api',
      [ENV.streamDriver]: 'upstash',
    });
  });

  it('reads the Upstash secret through the Parameters and Secrets extension (its arm64 layer, by region); migrate has none', () => {
    for (const fn of [fns.ingest, fns.consumer]) {
      const props = functionProps(s, fn);
      expect(props.Environment.Variables[ENV.secretsExtensionPort]).toBe('2773');
      expect(props.Layers).toHaveLength(1);
      // The stack's region is known only at deploy time: CDK maps it to the extension's layer ARN.
      const layer = JSON.stringify(props.Layers[0]);
      expect(layer).toContain('Fn::FindInMap');
      const mapping = Object.values(s.json.Mappings ?? {}).find((m) => JSON.stringify(m).includes('Parameters-and-Secrets'));
      expect(JSON.stringify(mapping)).toContain(
        'arn:aws:lambda:us-east-1:177933569100:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:',
      );
    }
    expect(functionProps(s, fns.migrate).Layers).toBeUndefined();
    expect(functionProps(s, fns.migrate).Environment.Variables).not.toHaveProperty(ENV.secretsExtensionPort);
  });

  it('keeps every function out of the VPC in the Upstash variant', () => {
    for (const fn of Object.values(fns)) expect(functionProps(s, fn).VpcConfig).toBeUndefined();
  });
});

describe('ingest API', () => {
  const s = synth({ apiRateLimit: '42', apiBurstLimit: '84', apiQuotaPerDay: '5000' });

  it('exposes exactly the documented routes, API key everywhere except the service info and the API docs', () => {
    expect(routes(s)).toEqual({
      'GET /': { apiKeyRequired: false, authorization: 'NONE' },
      'POST /events': { apiKeyRequired: true, authorization: 'NONE' },
      'POST /events/batch': { apiKeyRequired: true, authorization: 'NONE' },
      'GET /events/{id}': { apiKeyRequired: true, authorization: 'NONE' },
      'GET /health': { apiKeyRequired: true, authorization: 'NONE' },
      'GET /metrics/summary': { apiKeyRequired: true, authorization: 'NONE' },
      'GET /openapi.json': { apiKeyRequired: false, authorization: 'NONE' },
      'GET /docs': { apiKeyRequired: false, authorization: 'NONE' },
      'GET /docs/{asset}': { apiKeyRequired: false, authorization: 'NONE' },
      'POST /admin/redrive': { apiKeyRequired: true, authorization: 'AWS_IAM' },
    });
  });

  it('proxies every route to the ingest function', () => {
    const ingestArn = s.stack.resolve(s.stack.ingest.handler.functionArn);
    for (const [, m] of resourcesOfType(s, 'AWS::ApiGateway::Method')) {
      expect(m.Properties.Integration.Type).toBe('AWS_PROXY');
      expect(JSON.stringify(m.Properties.Integration.Uri)).toContain(JSON.stringify(ingestArn));
    }
  });

  it('is a REST API whose usage plan takes throttle and quota from context', () => {
    s.template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    s.template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 42, BurstLimit: 84 },
      Quota: { Limit: 5000, Period: 'DAY' },
      ApiStages: [Match.objectLike({ ApiId: { Ref: s.id(s.stack.ingest.api) } })],
    });
    s.template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: { Ref: s.id(sharedKey(s)) },
      KeyType: 'API_KEY',
    });
  });

  it('without producers keeps the one shared key and plan under their old logical ids (a default deploy is unchanged)', () => {
    const d = synth();
    expect(d.stack.ingest.access).toHaveLength(1);
    expect(d.stack.ingest.access[0]?.producer).toBeUndefined();
    d.template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    d.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
    // The ids the stack had before producers existed: a changed id would replace the key.
    expect(d.id(sharedKey(d))).toBe('IngestApiProducerApiKey3278EE6F');
    expect(d.id(d.stack.ingest.access[0]?.usagePlan as IConstruct)).toBe('IngestApiUsagePlan397A1055');
  });

  it('with producers makes one API key and one usage plan per producer, each key in its own plan', () => {
    const p = synth({ producers: 'shop,billing', apiRateLimit: '42', apiBurstLimit: '84', apiQuotaPerDay: '5000' });
    p.template.resourceCountIs('AWS::ApiGateway::ApiKey', 2);
    p.template.resourceCountIs('AWS::ApiGateway::UsagePlan', 2);
    p.template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 2);
    expect(p.stack.ingest.access.map((a) => a.producer)).toEqual(['shop', 'billing']);
    for (const { producer, apiKey, usagePlan } of p.stack.ingest.access) {
      p.template.hasResourceProperties('AWS::ApiGateway::ApiKey', { Name: `eventflow-dev-${producer}`, Enabled: true });
      const plan = p.json.Resources[p.id(usagePlan)].Properties;
      expect(plan).toMatchObject({
        UsagePlanName: `eventflow-dev-${producer}`,
        Throttle: { RateLimit: 42, BurstLimit: 84 },
        Quota: { Limit: 5000, Period: 'DAY' },
        ApiStages: [expect.objectContaining({ ApiId: { Ref: p.id(p.stack.ingest.api) } })],
      });
      const links = resourcesOfType(p, 'AWS::ApiGateway::UsagePlanKey').filter(
        ([, link]) => link.Properties.UsagePlanId.Ref === p.id(usagePlan),
      );
      expect(links.map(([, link]) => link.Properties.KeyId)).toEqual([{ Ref: p.id(apiKey) }]);
    }
    // cdk.json may give the list as an array.
    expect(synth({ producers: ['shop', 'billing'] }).stack.ingest.access.map((a) => a.producer)).toEqual(['shop', 'billing']);
    // The key ids, which raw events record as their producer, are an output; the shared key's is not.
    const outputs = p.json.Outputs as Record<string, Cfn>;
    expect(outputs.ApiKeyId).toBeUndefined();
    expect(JSON.stringify(outputs.ProducerApiKeyIds.Value)).toContain(
      `"Ref":"${p.id(p.stack.ingest.access[0]?.apiKey as IConstruct)}"`,
    );
  });

  it('defaults to 100 requests/s, burst 200 and 1 M requests per key per day; apiQuotaPerDay=0 drops the quota', () => {
    synth().template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 100, BurstLimit: 200 },
      Quota: { Limit: 1_000_000, Period: 'DAY' },
    });
    const [[, plan]] = resourcesOfType(synth({ apiQuotaPerDay: '0' }), 'AWS::ApiGateway::UsagePlan') as [[string, Cfn]];
    expect(plan.Properties.Quota).toBeUndefined();
    expect(plan.Properties.Throttle).toEqual({ RateLimit: 100, BurstLimit: 200 });
  });

  it("creates API Gateway's execution log group itself, with a retention, before the stage", () => {
    const apiRef = { Ref: s.id(s.stack.ingest.api) };
    const [logGroupId, logGroup] = resourcesOfType(s, 'AWS::Logs::LogGroup').find(([, g]) =>
      JSON.stringify(g.Properties.LogGroupName ?? '').includes('API-Gateway-Execution-Logs_'),
    ) as [string, Cfn];
    expect(logGroup.Properties).toEqual({
      LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', apiRef, '/v1']] },
      RetentionInDays: 30,
    });
    const [[, stage]] = resourcesOfType(s, 'AWS::ApiGateway::Stage') as [[string, Cfn]];
    expect(stage.DependsOn).toContain(logGroupId);
  });

  it('logs access as JSON, traces and records metrics on the stage', () => {
    const [[, stage]] = resourcesOfType(s, 'AWS::ApiGateway::Stage') as [[string, Cfn]];
    expect(stage.Properties.TracingEnabled).toBe(true);
    expect(stage.Properties.MethodSettings).toContainEqual(
      expect.objectContaining({
        HttpMethod: '*',
        ResourcePath: '/*',
        MetricsEnabled: true,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
      }),
    );
    // $context.error.messageString arrives quoted and escaped by API Gateway, so it stands unquoted.
    const raw: string = stage.Properties.AccessLogSetting.Format;
    expect(raw).toContain('"error":$context.error.messageString,');
    const format = JSON.parse(raw.replace('$context.error.messageString', '"(quoted by API Gateway)"'));
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
      apiKeyId: '$context.identity.apiKeyId',
    });
    expect(JSON.stringify(format)).not.toContain('$context.identity.apiKey"'); // the key itself is never logged
  });

  it('throttles the routes no usage plan covers', () => {
    const [[, stage]] = resourcesOfType(s, 'AWS::ApiGateway::Stage') as [[string, Cfn]];
    const open = stage.Properties.MethodSettings.filter(
      (m: Cfn) => m.HttpMethod === 'GET' && ['/', '/~1openapi.json', '/~1docs', '/~1docs~1{asset}'].includes(m.ResourcePath),
    );
    expect(open).toHaveLength(4);
    for (const setting of open) expect(setting).toMatchObject({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 });
  });

  it('declares the docs asset name as a required path parameter, which API Gateway validates', () => {
    const resources = Object.fromEntries(resourcesOfType(s, 'AWS::ApiGateway::Resource'));
    const [, method] = resourcesOfType(s, 'AWS::ApiGateway::Method').find(
      ([, m]) => resources[m.Properties.ResourceId.Ref]?.Properties.PathPart === '{asset}',
    ) as [string, Cfn];
    expect(method.Properties).toMatchObject({
      HttpMethod: 'GET',
      AuthorizationType: 'NONE',
      RequestParameters: { 'method.request.path.asset': true },
      RequestValidatorId: { Ref: expect.stringMatching(/RequestValidator/) },
    });
    expect(method.Properties.ApiKeyRequired).not.toBe(true); // public, like /docs
    const parent = resources[method.Properties.ResourceId.Ref].Properties.ParentId.Ref;
    expect(resources[parent].Properties.PathPart).toBe('docs');
  });
});

describe('IAM', () => {
  const variants = { upstash: synth(), elasticache: synth({ redisBackend: 'elasticache' }) };

  it.each(Object.entries(variants))('never grants rds-data, secretsmanager or sqs on "*" (%s)', (_name, s) => {
    for (const st of allStatements(s)) {
      const actions = asArray(st.Action) as string[];
      if (!actions.some((a) => /^(rds-data|secretsmanager|sqs):/.test(a))) continue;
      for (const resource of asArray(st.Resource)) {
        expect(resource).not.toBe('*');
        if (typeof resource === 'string') expect(resource).not.toContain('*');
      }
      expect(actions.every((a) => !a.endsWith(':*'))).toBe(true);
    }
  });

  it('grants the Data API on this cluster only and the secret read on this secret only', () => {
    const s = variants.upstash;
    const cluster = s.stack.database.cluster;
    const clusterArn = s.stack.resolve(cluster?.clusterArn);
    const secretArn = s.stack.resolve(cluster?.secret?.secretArn);
    const dataApi = allStatements(s).filter((st) => asArray(st.Action).some((a: string) => a.startsWith('rds-data:')));
    expect(dataApi).toHaveLength(3); // ingest, consumer, migrate
    for (const st of dataApi) {
      expect(st.Resource).toEqual(clusterArn);
      expect(asArray(st.Action).sort()).toEqual([
        'rds-data:BeginTransaction',
        'rds-data:CommitTransaction',
        'rds-data:ExecuteStatement',
        'rds-data:RollbackTransaction',
      ]);
    }
    const secrets = allStatements(s).filter((st) => asArray(st.Action).some((a: string) => a.startsWith('secretsmanager:')));
    for (const st of secrets) {
      expect(st.Action).toBe('secretsmanager:GetSecretValue');
      for (const resource of asArray(st.Resource)) {
        const text = JSON.stringify(resource);
        expect(text === JSON.stringify(secretArn) || text.includes(':secret:eventflow/dev/upstash-??????')).toBe(true);
      }
    }
  });

  it('grants exactly the Data API calls the adapter makes (one action per SDK command it imports)', () => {
    const adapter = readFileSync(new URL('../../lambdas/adapters/sql/data-api.ts', import.meta.url), 'utf8');
    const imports = /import \{([^}]*)\} from '@aws-sdk\/client-rds-data'/.exec(adapter)?.[1] ?? '';
    const commands = [...imports.matchAll(/\b(\w+)Command\b/g)].map((m) => m[1] as string);
    expect(commands.length).toBeGreaterThan(0);
    expect([...new Set(commands.map((c) => `rds-data:${c}`))].sort()).toEqual([...DATA_API_ACTIONS].sort());
  });

  it('lets ingest only send to the fallback queue, and the consumer drain it and send dead letters', () => {
    const s = variants.upstash;
    const q = s.stack.queues;
    const roleOf = (fn: IConstruct) => (functionProps(s, fn).Role as Cfn)['Fn::GetAtt'][0] as string;
    const sqsResources = (roleId: string, action: string) =>
      statementsOfRole(s, roleId, 'sqs:')
        .filter((st) => asArray(st.Action).includes(action))
        .flatMap((st) => asArray(st.Resource));

    const sqsActions = (roleId: string, queue: IConstruct & { queueArn: string }) =>
      statementsOfRole(s, roleId, 'sqs:')
        .filter((st) => asArray(st.Resource).some((r) => JSON.stringify(r) === JSON.stringify(s.stack.resolve(queue.queueArn))))
        .flatMap((st) => asArray(st.Action))
        .sort();

    const ingestRole = roleOf(s.stack.ingest.handler);
    expect(sqsResources(ingestRole, 'sqs:SendMessage')).toEqual([s.stack.resolve(q.ingestFallbackQueue.queueArn)]);
    expect(sqsActions(ingestRole, q.ingestFallbackQueue)).toEqual(['sqs:SendMessage']);
    expect(sqsResources(ingestRole, 'sqs:ReceiveMessage')).toEqual([]);

    const consumerRole = roleOf(s.stack.consumer.handler);
    // Drains the fallback queue (receive, delete) and never sends to it.
    expect(sqsActions(consumerRole, q.ingestFallbackQueue)).toEqual(['sqs:DeleteMessage', 'sqs:ReceiveMessage']);
    expect(sqsActions(consumerRole, q.deadLetterQueue)).toEqual(['sqs:SendMessage']);
    expect(sqsResources(consumerRole, 'sqs:SendMessage')).toEqual(
      expect.arrayContaining([s.stack.resolve(q.deadLetterQueue.queueArn), s.stack.resolve(q.consumerFailureQueue.queueArn)]),
    );
    expect(sqsResources(consumerRole, 'sqs:SendMessage')).not.toContainEqual(s.stack.resolve(q.ingestFallbackQueue.queueArn));
  });
});

describe('database', () => {
  it('is Aurora Serverless v2 PostgreSQL with the Data API, encryption, 7-day backups and auto-pause by default', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::RDS::DBCluster', 1);
    s.template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^17\\.'),
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      BackupRetentionPeriod: 7,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4 },
      DeletionProtection: false,
      DatabaseName: 'eventflow',
    });
    s.template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
    // Nothing connects with an IAM database token: the Data API signs in with the cluster secret.
    const [[, cluster]] = resourcesOfType(s, 'AWS::RDS::DBCluster') as [[string, Cfn]];
    expect(cluster.Properties.EnableIAMDatabaseAuthentication ?? false).toBe(false);
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }),
    });
    s.template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Delete' });
  });

  it('pins the engine version and turns automatic minor upgrades off, so the template matches the cluster', () => {
    const s = synth();
    s.template.hasResourceProperties('AWS::RDS::DBCluster', { EngineVersion: '17.7' });
    const [[, writer]] = resourcesOfType(s, 'AWS::RDS::DBInstance') as [[string, Cfn]];
    expect(writer.Properties.AutoMinorVersionUpgrade).toBe(false);
  });

  it('takes capacity from context and protects a retained database', () => {
    const s = synth({ minAcu: '0.5', maxAcu: 8, removalPolicy: 'retain' });
    s.template.hasResourceProperties('AWS::RDS::DBCluster', {
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
      DeletionProtection: true,
    });
    s.template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Retain' });
    s.template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Retain' });
  });

  it('lives in isolated subnets of a VPC with no NAT gateway and no internet gateway', () => {
    const s = synth();
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    s.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    s.template.resourceCountIs('AWS::EC2::Subnet', 2);
    s.template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('runs the migrations through a trigger after the cluster and its writer exist', () => {
    const s = synth();
    const cluster = s.stack.database.cluster;
    expect(cluster).toBeDefined();
    const [[, trigger]] = resourcesOfType(s, 'Custom::Trigger') as [[string, Cfn]];
    expect(trigger.DependsOn).toEqual(
      expect.arrayContaining([s.id(cluster as IConstruct), s.id(cluster?.node.findChild('Writer') as IConstruct)]),
    );
    expect(trigger.Properties).toMatchObject({ InvocationType: 'RequestResponse', ExecuteOnHandlerChange: true });
    const migrate = s.stack.node.findChild('Migrations').node.findChild('Handler');
    const version = s.json.Resources[trigger.Properties.HandlerArn.Ref];
    expect(version).toMatchObject({ Type: 'AWS::Lambda::Version', Properties: { FunctionName: { Ref: s.id(migrate) } } });
    expect(envOf(s, migrate)).toMatchObject({ [ENV.sqlDriver]: 'data-api', [ENV.dbName]: 'eventflow' });
  });
});

describe('consumer schedule', () => {
  const rulesOf = (s: Synth) => resourcesOfType(s, 'AWS::Events::Rule').map(([, r]) => r.Properties);

  it('reserves no concurrency by default, so an account whose limit is 10 can deploy', () => {
    for (const context of [{}, { workers: '3' }, { consumerMode: 'continuous', workers: '7' }]) {
      const s = synth(context);
      expect(functionProps(s, s.stack.consumer.handler).ReservedConcurrentExecutions).toBeUndefined();
      for (const [, fn] of resourcesOfType(s, 'AWS::Lambda::Function')) {
        expect(fn.Properties.ReservedConcurrentExecutions).toBeUndefined();
      }
    }
  });

  it('reserves consumerReservedConcurrency when given', () => {
    const s = synth({ consumerReservedConcurrency: '4', workers: '3' });
    expect(functionProps(s, s.stack.consumer.handler).ReservedConcurrentExecutions).toBe(4);
    const c = synth({ consumerMode: 'continuous', workers: '2', consumerReservedConcurrency: 4 });
    expect(functionProps(c, c.stack.consumer.handler).ReservedConcurrentExecutions).toBe(4);
  });

  it('scheduled mode: one rule a minute by default, one target, 60 s timeout', () => {
    const s = synth({ workers: '3' });
    const rules = rulesOf(s);
    expect(rules).toHaveLength(1);
    expect(rules[0].ScheduleExpression).toBe('rate(1 minute)');
    expect(rules[0].Targets).toHaveLength(1);
    expect(functionProps(s, s.stack.consumer.handler)).toMatchObject({ Timeout: 60 });
  });

  it('takes the tick interval from consumerScheduleMinutes; a tick throttled for one interval is dropped', () => {
    const s = synth({ consumerScheduleMinutes: '5' });
    const rules = rulesOf(s);
    expect(rules).toHaveLength(1);
    expect(rules[0].ScheduleExpression).toBe('rate(5 minutes)');
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 300 });
    synth().template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 60 });
  });

  it('continuous mode: `workers` targets in rules of at most five, ~70 s timeout', () => {
    const s = synth({ consumerMode: 'continuous', workers: '7' });
    const rules = rulesOf(s);
    expect(rules.map((r) => r.Targets.length)).toEqual([5, 2]);
    for (const rule of rules) {
      expect(rule.ScheduleExpression).toBe('rate(1 minute)');
      for (const target of rule.Targets) expect(target.Arn).toEqual(s.stack.resolve(s.stack.consumer.handler.functionArn));
    }
    expect(functionProps(s, s.stack.consumer.handler)).toMatchObject({ Timeout: 70 });
  });

  it('never retries a tick and records failed ticks in the consumer failure queue', () => {
    const s = synth();
    const failureQueueArn = s.stack.resolve(s.stack.queues.consumerFailureQueue.queueArn);
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: s.id(s.stack.consumer.handler) },
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: failureQueueArn } },
    });
    for (const target of rulesOf(s)[0].Targets) {
      expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0 });
      expect(target.DeadLetterConfig).toEqual({ Arn: failureQueueArn });
    }
  });
});

describe('queues', () => {
  const s = synth();

  it('encrypts every queue with SQS-managed SSE and refuses non-TLS requests', () => {
    const queues = resourcesOfType(s, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(4);
    const policies = resourcesOfType(s, 'AWS::SQS::QueuePolicy').map(([, p]) => p.Properties);
    for (const [logicalId, queue] of queues) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      const policy = policies.find((p) => p.Queues.some((q: Cfn) => q.Ref === logicalId));
      expect(policy?.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('moves a fallback message to its own dead-letter queue after 5 receives', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: {
        deadLetterTargetArn: s.stack.resolve(s.stack.queues.ingestFallbackDeadLetterQueue.queueArn),
        maxReceiveCount: 5,
      },
    });
  });
});

describe('observability', () => {
  const s = synth({ alarmEmail: 'ops@example.com' });
  const dashboardBody = () => JSON.stringify(resourcesOfType(s, 'AWS::CloudWatch::Dashboard')[0]?.[1].Properties.DashboardBody);
  /** The dashboard JSON with CloudFormation references replaced by placeholders, parsed. */
  const resolvedDashboardBody = () => {
    const body = resourcesOfType(s, 'AWS::CloudWatch::Dashboard')[0]?.[1].Properties.DashboardBody;
    const parts: Cfn[] = body['Fn::Join'][1];
    return parts.map((p) => (typeof p === 'string' ? p : 'REF')).join('');
  };
  const alarms = () => resourcesOfType(s, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const alarmNamed = (suffix: string) => alarms().find((a) => a.AlarmName === `EventFlow-dev-${suffix}`);
  /** The watched metric, whether CDK rendered it inline or as a one-element Metrics array (labels do that). */
  const watched = (suffix: string) => {
    const alarm = alarmNamed(suffix);
    const stat = alarm.Metrics?.length === 1 ? alarm.Metrics[0].MetricStat : undefined;
    return stat ? { ...stat.Metric, Statistic: stat.Stat, Period: stat.Period, Threshold: alarm.Threshold } : alarm;
  };

  it('charts every metric the code emits, by its EMF name, in the EventFlow namespace for this service', () => {
    const body = dashboardBody();
    for (const def of [...Object.values(COUNTERS), ...Object.values(GAUGES), ...Object.values(HISTOGRAMS)]) {
      expect(body, def.emf).toContain(def.emf);
    }
    expect(body).toContain('EventFlow');
    expect(body).toContain('eventflow-dev');
    // Breakdowns search the label set the EMF adapter emits (labels + service).
    expect(body).toContain(`SEARCH('{EventFlow,event_type,service} MetricName=\\\\\\"${COUNTERS.eventsProcessed.emf}\\\\\\"`);
    expect(body).toContain(`{EventFlow,event_type,error_type,service} MetricName=\\\\\\"${COUNTERS.eventsFailed.emf}\\\\\\"`);
    for (const p of ['p50', 'p95', 'p99']) expect(body).toContain(`"stat\\":\\"${p}\\"`);
    for (const aws of [
      'AWS/ApiGateway',
      'AWS/Lambda',
      'AWS/SQS',
      'Latency',
      '4XXError',
      '5XXError',
      'Throttles',
      'ConcurrentExecutions',
    ]) {
      expect(body).toContain(aws);
    }
  });

  it('alarms on NEW dead letters: a per-period count of messages sent, so it returns to OK after a quiet period', () => {
    const alarm = alarmNamed('NewDeadLetters');
    expect(alarmNamed('DeadLetterQueueNotEmpty')).toBeUndefined();
    expect(watched('NewDeadLetters')).toMatchObject({
      Namespace: 'AWS/SQS',
      // A counter of sends in the period (a rate), not ApproximateNumberOfMessagesVisible (a level that
      // nothing lowers: no process deletes from this queue).
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: s.stack.resolve(s.stack.queues.deadLetterQueue.queueName) }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
    });
    expect(alarm).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      // A period with no sends has no datapoint: counted as OK, so the alarm clears by itself.
      TreatMissingData: 'notBreaching',
      OKActions: [expect.anything()],
    });
  });

  it('alarms on infrastructure failures only; rule violations (producer data) are charted, not alarmed', () => {
    expect(alarmNamed('FailureRateHigh')).toBeUndefined();
    const alarm = alarmNamed('InfrastructureFailureRateHigh');
    const used = alarm.Metrics.filter((m: Cfn) => m.MetricStat).map((m: Cfn) => m.MetricStat.Metric.MetricName);
    expect(used.sort()).toEqual(
      [COUNTERS.deadLettersInfrastructure.emf, COUNTERS.eventsFailed.emf, COUNTERS.eventsProcessed.emf].sort(),
    );
    expect(used).not.toContain(COUNTERS.deadLettersRuleViolation.emf);
    for (const other of alarms()) {
      expect(JSON.stringify(other), other.AlarmName).not.toContain(COUNTERS.deadLettersRuleViolation.emf);
    }
    const body = dashboardBody();
    expect(body).toContain(COUNTERS.deadLettersRuleViolation.emf);
    expect(body).toContain(COUNTERS.deadLettersInfrastructure.emf);
  });

  it('alarms when the consumer stops reporting: no ActiveWorkers sample counts as breaching', () => {
    expect(watched('ConsumerHeartbeatMissing')).toMatchObject({
      Namespace: 'EventFlow',
      MetricName: GAUGES.activeWorkers.emf,
      Dimensions: [{ Name: 'service', Value: 'eventflow-dev' }],
      Statistic: 'SampleCount',
      Period: 300,
      Threshold: 1,
    });
    expect(alarmNamed('ConsumerHeartbeatMissing')).toMatchObject({
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      TreatMissingData: 'breaching',
    });
    // Ticks every 10 minutes: each period spans two ticks.
    const slow = synth({ consumerScheduleMinutes: '10' });
    const heartbeat = resourcesOfType(slow, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties)
      .find((a) => a.AlarmName === 'EventFlow-dev-ConsumerHeartbeatMissing');
    expect(heartbeat.Period ?? heartbeat.Metrics?.[0]?.MetricStat?.Period).toBe(1200);
  });

  it('every other alarm treats missing data as OK (no traffic is not an incident)', () => {
    for (const alarm of alarms()) {
      if (alarm.AlarmName === 'EventFlow-dev-ConsumerHeartbeatMissing') continue;
      expect(alarm.TreatMissingData, alarm.AlarmName).toBe('notBreaching');
    }
  });

  it('charts consumer invocations with Sum per minute (Maximum of a per-invocation 1 always reads 1)', () => {
    const widgets = JSON.parse(resolvedDashboardBody()).widgets as Cfn[];
    const lines = widgets
      .flatMap((w) => w.properties?.metrics ?? [])
      .filter((m: Cfn[]) => Array.isArray(m) && m.includes(GAUGES.activeWorkers.emf));
    expect(lines).toHaveLength(1);
    expect(lines[0].at(-1)).toMatchObject({ stat: 'Sum', period: 60 });
  });

  it('names the dashboard after the stage and the region (dashboard names are global to the account)', () => {
    const [[, dashboard]] = resourcesOfType(s, 'AWS::CloudWatch::Dashboard') as [[string, Cfn]];
    expect(dashboard.Properties.DashboardName).toEqual({ 'Fn::Join': ['', ['EventFlow-dev-', { Ref: 'AWS::Region' }]] });
  });

  it('alarms on queue lag, oldest pending age, API 5xx and consumer errors', () => {
    expect(watched('QueueLagHigh')).toMatchObject({
      MetricName: GAUGES.queueLag.emf,
      Namespace: 'EventFlow',
      Dimensions: [{ Name: 'service', Value: 'eventflow-dev' }],
    });
    expect(watched('OldestPendingTooOld')).toMatchObject({
      MetricName: GAUGES.oldestPendingAge.emf,
      Namespace: 'EventFlow',
      Threshold: 300,
    });
    expect(watched('Api5xx')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError' });
    expect(watched('ConsumerErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: s.id(s.stack.consumer.handler) } }],
    });
  });

  it('sends every alarm to an encrypted, TLS-only SNS topic with the email subscription from context', () => {
    const topic = s.stack.observability.alarmTopic;
    expect(topic).toBeDefined();
    const topicRef = { Ref: s.id(topic as IConstruct) };
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([topicRef]);
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('subscribes nobody when no alarm email is given', () => {
    synth().template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('outputs', () => {
  it('exports the HTTPS endpoint, the API key id, the dashboard and the queue URLs', () => {
    const s = synth();
    const outputs = s.json.Outputs as Record<string, Cfn>;
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'ApiKeyId',
        'ApiUrl',
        'ConsumerFailureQueueUrl',
        'DashboardName',
        'DeadLetterQueueUrl',
        'IngestFallbackDeadLetterQueueUrl',
        'IngestFallbackQueueUrl',
      ].sort(),
    );
    expect(JSON.stringify(outputs.ApiUrl.Value)).toContain('https://');
    expect(outputs.ApiKeyId.Value).toEqual({ Ref: s.id(sharedKey(s)) });
  });
});

describe('ElastiCache variant', () => {
  const s = synth({ redisBackend: 'elasticache' });

  it('runs ingest and consumer in the isolated subnets with ioredis over TLS to a Valkey serverless cache', () => {
    s.template.hasResourceProperties('AWS::ElastiCache::ServerlessCache', {
      Engine: 'valkey',
      ServerlessCacheName: 'eventflow-dev',
    });
    for (const fn of [s.stack.ingest.handler, s.stack.consumer.handler]) {
      const props = functionProps(s, fn);
      expect(props.VpcConfig.SubnetIds).toHaveLength(2);
      expect(props.Environment.Variables[ENV.streamDriver]).toBe('ioredis');
      expect(JSON.stringify(props.Environment.Variables[ENV.redisUrl])).toContain('rediss://');
      expect(props.Environment.Variables).not.toHaveProperty(ENV.upstashSecretArn);
      expect(props.Layers).toBeUndefined();
    }
    // Migrations only need the Data API, so they stay outside the VPC.
    expect(functionProps(s, s.stack.node.findChild('Migrations').node.findChild('Handler')).VpcConfig).toBeUndefined();
  });

  it('reaches the AWS APIs it calls through interface endpoints (rds-data, sqs), with no NAT', () => {
    const services = resourcesOfType(s, 'AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(e.Properties.ServiceName));
    expect(services).toHaveLength(2);
    for (const name of ['rds-data', 'sqs']) expect(services.some((text) => text.includes(`.${name}`))).toBe(true);
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  it("opens the cache port to the Lambdas' security group only", () => {
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 6379,
      ToPort: 6379,
      SourceSecurityGroupId: Match.objectLike({ 'Fn::GetAtt': Match.anyValue() }),
    });
  });
});

describe('LocalStack target', () => {
  const s = synth({ localstack: 'true' });

  it("skips Aurora, the VPC and the SNS/KMS alarm topic, which LocalStack's free image cannot run", () => {
    for (const type of [
      'AWS::RDS::DBCluster',
      'AWS::EC2::VPC',
      'AWS::SNS::Topic',
      'AWS::KMS::Key',
      'AWS::ElastiCache::ServerlessCache',
    ]) {
      s.template.resourceCountIs(type, 0);
    }
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
  });

  it('points the Lambdas at the local Data API and Upstash endpoints', () => {
    for (const fn of [s.stack.ingest.handler, s.stack.consumer.handler]) {
      expect(envOf(s, fn)).toMatchObject({
        [ENV.sqlDriver]: 'data-api',
        [ENV.rdsDataEndpoint]: 'http://host.docker.internal:8080',
        [ENV.dbClusterArn]: expect.anything(),
        [ENV.dbSecretArn]: expect.anything(),
        [ENV.streamDriver]: 'upstash',
        [ENV.upstashUrl]: 'http://host.docker.internal:8079',
        [ENV.upstashToken]: 'local-token',
      });
    }
    const custom = synth({
      localstack: true,
      localDataApiEndpoint: 'http://data-api:8080',
      localUpstashUrl: 'http://upstash:8079',
      localUpstashToken: 't0k',
    });
    expect(envOf(custom, custom.stack.ingest.handler)).toMatchObject({
      [ENV.rdsDataEndpoint]: 'http://data-api:8080',
      [ENV.upstashUrl]: 'http://upstash:8079',
      [ENV.upstashToken]: 't0k',
    });
  });

  it('grants no Data API or secret access (there is nothing real to reach)', () => {
    expect(
      allStatements(s).filter((st) => asArray(st.Action).some((a: string) => /^(rds-data|secretsmanager):/.test(a))),
    ).toEqual([]);
  });
});

describe('context validation', () => {
  it.each([
    [{ workers: 'many' }, 'workers'],
    [{ workers: '0' }, 'workers'],
    [{ consumerMode: 'sometimes' }, 'consumerMode'],
    [{ redisBackend: 'memcached' }, 'redisBackend'],
    [{ minAcu: '0.3' }, 'minAcu'],
    [{ removalPolicy: 'snapshot' }, 'removalPolicy'],
    [{ alarmEmail: 'not-an-email' }, 'alarmEmail'],
    [{ stage: 'Prod_1' }, 'stage'],
    [{ stage: 'a--b' }, 'stage'], // ElastiCache names refuse "--" and a trailing "-"
    [{ stage: 'dev-' }, 'stage'],
    [{ upstashSecretName: 'eventflow/upstash-secret' }, 'upstashSecretName'], // read as an ARN suffix
    [{ localstack: 'yes' }, 'localstack'],
    [{ batchSize: '5000' }, 'batchSize'],
    [{ consumerReservedConcurrency: 'lots' }, 'consumerReservedConcurrency'],
    [{ consumerReservedConcurrency: '0' }, 'consumerReservedConcurrency'],
    [{ consumerReservedConcurrency: '1', workers: '2' }, 'consumerReservedConcurrency'], // below workers
    [{ consumerReservedConcurrency: '3', workers: '2', consumerMode: 'continuous' }, 'consumerReservedConcurrency'],
    [{ consumerScheduleMinutes: '0' }, 'consumerScheduleMinutes'],
    [{ consumerScheduleMinutes: '1.5' }, 'consumerScheduleMinutes'],
    [{ consumerScheduleMinutes: '61' }, 'consumerScheduleMinutes'],
    [{ consumerScheduleMinutes: '5', consumerMode: 'continuous' }, 'consumerScheduleMinutes'],
    [{ apiQuotaPerDay: '-1' }, 'apiQuotaPerDay'],
    [{ apiRateLimit: 'fast' }, 'apiRateLimit'],
    [{ apiBurstLimit: '50' }, 'apiBurstLimit'], // below the default rate of 100
    [{ producers: 'shop,Billing' }, 'producers'],
    [{ producers: 'shop,shop' }, 'producers'],
    [{ producers: 'shop,,billing' }, 'producers'],
    [{ producers: { shop: 1 } }, 'producers'],
    [{ producers: Array.from({ length: 101 }, (_, i) => `p${i}`) }, 'producers'],
  ])('refuses %j with one line that names the key and how to set it', (context, key) => {
    let message = '';
    try {
      synth(context);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^context "${key}" .+: set -c ${key}=<value> or "${key}" in cdk\\.json "context" \\(docs/DEPLOY\\.md, Configuration\\)$`,
        ),
      ),
    ]);
  });

  it('reports every bad key at once, one line each', () => {
    expect(() => synth({ workers: 'x', apiRateLimit: '-1', maxAcu: '0.5' })).toThrow(
      /workers[\s\S]*maxAcu[\s\S]*apiRateLimit|workers[\s\S]*apiRateLimit[\s\S]*maxAcu/,
    );
    try {
      synth({ workers: 'x', apiRateLimit: '-1', maxAcu: '0.5' });
    } catch (error) {
      expect((error as Error).message.split('\n')).toHaveLength(3);
    }
  });

  it('`cdk synth` (bin/eventflow.ts) prints the bad key as one line and exits 1, without a stack trace', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/eventflow.ts'], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      // How the CDK CLI hands `-c` values to the app.
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ consumerScheduleMinutes: 'often' }) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'context "consumerScheduleMinutes" must be a whole number from 1 to 60 (got "often"): set -c consumerScheduleMinutes=<value> or "consumerScheduleMinutes" in cdk.json "context" (docs/DEPLOY.md, Configuration)',
    ]);
  });

  it('documents every context key, with its default, in docs/DEPLOY.md', () => {
    const doc = readFileSync(new URL('../../docs/DEPLOY.md', import.meta.url), 'utf8');
    for (const [key, value] of Object.entries(CONTEXT_DEFAULTS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${key}\` |`));
      expect(row, key).toBeDefined();
      if (typeof value === 'number' || typeof value === 'string') expect(row, key).toContain(`\`${value}\``);
    }
  });

  it('refuses combinations that cannot work', () => {
    expect(() => synth({ minAcu: '8', maxAcu: '4' })).toThrow(/context "maxAcu" must be at least minAcu/);
    expect(() => synth({ localstack: 'true', redisBackend: 'elasticache' })).toThrow(
      /context "redisBackend" must be upstash when localstack=true/,
    );
  });

  it('names the stack after the stage and retains a prod stage by default', () => {
    const prod = synth({ stage: 'prod' });
    expect(prod.stack.stackName).toBe('EventFlow-prod');
    expect(prod.stack.config.removalPolicy).toBe('retain');
    expect(synth().stack.config.removalPolicy).toBe('destroy');
  });

  it('a retained stage keeps what the retained cluster needs: its secret, subnets and security groups', () => {
    const prod = synth({ stage: 'prod' });
    const policyOf = (type: string) => resourcesOfType(prod, type).map(([, r]) => r.DeletionPolicy);
    for (const type of [
      'AWS::RDS::DBCluster',
      'AWS::SecretsManager::Secret',
      'AWS::EC2::VPC',
      'AWS::EC2::Subnet',
      'AWS::EC2::SecurityGroup',
    ]) {
      expect(policyOf(type), type).not.toContain('Delete');
    }
    const dev = synth();
    expect(resourcesOfType(dev, 'AWS::EC2::VPC').map(([, r]) => r.DeletionPolicy)).not.toContain('Retain');
  });
});

describe('cost model (scripts/lib/cost-model.ts)', () => {
  it("uses the template's real settings: memory, schedule, capacity, alarm metrics, dashboards, secrets, keys, tracing", () => {
    const s = synth();
    const settings = DEFAULT_STACK_SETTINGS;
    for (const fn of [s.stack.ingest.handler, s.stack.consumer.handler]) {
      expect(functionProps(s, fn)).toMatchObject({ MemorySize: settings.lambdaMemoryMb, Architectures: ['arm64'] });
    }
    expect(resourcesOfType(s, 'AWS::Events::Rule').map(([, r]) => r.Properties.ScheduleExpression)).toEqual([
      `rate(${settings.consumerScheduleMinutes} minute)`,
    ]);
    s.template.hasResourceProperties('AWS::RDS::DBCluster', {
      ServerlessV2ScalingConfiguration: { MinCapacity: settings.minAcu, MaxCapacity: settings.maxAcu },
    });
    const alarmMetrics = resourcesOfType(s, 'AWS::CloudWatch::Alarm')
      .map(([, a]) => (a.Properties.Metrics ? a.Properties.Metrics.filter((m: Cfn) => m.MetricStat).length : 1))
      .reduce((sum: number, n: number) => sum + n, 0);
    expect(alarmMetrics).toBe(settings.alarmMetrics);
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', settings.dashboards);
    // The cluster secret is in the template; the Upstash secret is imported by name (operator-made).
    s.template.resourceCountIs('AWS::SecretsManager::Secret', settings.secrets - 1);
    s.template.resourceCountIs('AWS::KMS::Key', settings.kmsKeys);
    const [[, stage]] = resourcesOfType(s, 'AWS::ApiGateway::Stage') as [[string, Cfn]];
    expect(stage.Properties.TracingEnabled).toBe(true);
  });
});
