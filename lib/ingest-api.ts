// The producer-facing REST API (API keys, usage plan, access logs) in front of the ingest Lambda.
// Must never route around the Lambda: every path is a proxy integration to the one ingest handler.
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/config/keys.ts';
import { DOCS_ASSETS, DOCS_ASSETS_BUNDLE_DIR } from '../lambdas/ingest/docs-assets.ts';
import { EventFlowFunction, type FunctionDefaults, type SqlTarget, type StreamTarget } from './eventflow-function.ts';
import type { Queues } from './queues.ts';

export interface IngestApiProps {
  readonly stage: string;
  readonly defaults: FunctionDefaults;
  readonly database: SqlTarget;
  readonly stream: StreamTarget;
  readonly queues: Queues;
  readonly rateLimit: number;
  readonly burstLimit: number;
  /** Requests per key per day; 0 leaves the usage plan without a quota. */
  readonly quotaPerDay: number;
  /** One API key and usage plan per producer name; none: one shared key and plan. */
  readonly producers?: readonly string[];
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/** The API Gateway stage name: the first path segment producers call, e.g. /v1/events. */
export const API_STAGE_NAME = 'v1';

// Routes without an API key get their own small per-method limit, since no usage plan covers them.
const OPEN_ROUTE_THROTTLE = { throttlingRateLimit: 10, throttlingBurstLimit: 20 };

/** A producer's API key and the usage plan (throttle, quota) it alone is in. */
export interface ProducerAccess {
  /** The producer's name (CDK context `producers`); undefined for the shared key of a deploy without producers. */
  readonly producer?: string;
  readonly apiKey: apigw.IApiKey;
  readonly usagePlan: apigw.UsagePlan;
}

export class IngestApi extends Construct {
  readonly api: apigw.RestApi;
  readonly handler: EventFlowFunction;
  /**
   * Every key that may call the keyed routes, each in its own usage plan, so throttle and quota are per
   * producer. API Gateway hands the ingest handler the calling key's id, which each raw event records
   * as its producer and which GET /events/{id} matches.
   */
  readonly access: readonly ProducerAccess[];

  constructor(scope: Construct, id: string, props: IngestApiProps) {
    super(scope, id);

    this.handler = new EventFlowFunction(this, 'Handler', {
      entry: 'lambdas/ingest/handler.ts',
      description: 'EventFlow ingest: every API route (accept, read, health, summary, docs, redrive)',
      defaults: props.defaults,
      // Short: an Aurora resume can take ~15 s, and the handler should fall back to SQS long before
      // API Gateway's 29 s integration timeout turns the request into a 504.
      timeout: Duration.seconds(15),
      // GET /docs/{asset} reads Swagger UI's files beside the bundle (never bundled: ~1.9 MB of JS/CSS
      // would slow every cold start). Only the files the route serves are copied.
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (inputDir: string, outputDir: string) => [
          `mkdir -p "${outputDir}/${DOCS_ASSETS_BUNDLE_DIR}"`,
          ...Object.keys(DOCS_ASSETS).map(
            (name) => `cp "${inputDir}/node_modules/swagger-ui-dist/${name}" "${outputDir}/${DOCS_ASSETS_BUNDLE_DIR}/"`,
          ),
        ],
      },
    })
      .bindDatabase(props.database)
      .bindStream(props.stream)
      .bindQueueForSending(ENV.ingestFallbackQueueUrl, props.queues.ingestFallbackQueue);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `eventflow-${props.stage}`,
      description: 'EventFlow ingestion API',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      apiKeySourceType: apigw.ApiKeySourceType.HEADER,
      // Access and execution logs need the account-level API Gateway CloudWatch role.
      cloudWatchRole: true,
      deployOptions: {
        stageName: API_STAGE_NAME,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: accessLogFormat(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false, // bodies would put event payloads in the logs
        tracingEnabled: true,
        metricsEnabled: true,
        methodOptions: {
          '//GET': OPEN_ROUTE_THROTTLE,
          '/openapi.json/GET': OPEN_ROUTE_THROTTLE,
          '/docs/GET': OPEN_ROUTE_THROTTLE,
          '/docs/{asset}/GET': OPEN_ROUTE_THROTTLE,
        },
      },
    });

    // The stack exports ApiUrl itself; drop RestApi's automatic duplicate output.
    this.api.node.tryRemoveChild('Endpoint');

    // API Gateway writes execution logs (loggingLevel ERROR) to a group it names after the API and
    // stage, and creates it without a retention if it does not exist. Creating it here first, before
    // the stage, gives it our retention and lets `cdk destroy` remove it.
    const executionLogs = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${API_STAGE_NAME}`,
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.api.deploymentStage.node.addDependency(executionLogs);

    // Body validation stays in the Lambda (one error format for every client mistake); API Gateway
    // checks the declared parameters, which is all a proxy route declares.
    const validator = this.api.addRequestValidator('RequestValidator', {
      requestValidatorName: 'parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const integration = new apigw.LambdaIntegration(this.handler, { allowTestInvoke: false });
    const keyed: apigw.MethodOptions = { apiKeyRequired: true, requestValidator: validator };

    const root = this.api.root;
    const events = root.addResource('events');
    const keyedMethods = [
      events.addMethod('POST', integration, keyed),
      events.addResource('batch').addMethod('POST', integration, keyed),
      events
        .addResource('{id}')
        .addMethod('GET', integration, { ...keyed, requestParameters: { 'method.request.path.id': true } }),
      root.addResource('metrics').addResource('summary').addMethod('GET', integration, keyed),
      // Health probes SQL: behind the key, so anonymous traffic cannot keep a paused Aurora awake.
      root.addResource('health').addMethod('GET', integration, keyed),
    ];
    // Redrive changes data: it needs a signed caller (IAM) as well as a key.
    const redrive = root
      .addResource('admin')
      .addResource('redrive')
      .addMethod('POST', integration, { ...keyed, authorizationType: apigw.AuthorizationType.IAM });
    // The service info and the API description are public by design (a browser opening /docs cannot
    // send an API key; the page loads openapi.json relative to itself). None of them touches a store.
    const docs = root.addResource('docs');
    const openMethods = [
      root.addMethod('GET', integration, { requestValidator: validator }),
      root.addResource('openapi.json').addMethod('GET', integration, { requestValidator: validator }),
      docs.addMethod('GET', integration, { requestValidator: validator }),
      // The page's script and style sheet (relative URLs docs/<asset>, so the stage prefix is kept).
      docs
        .addResource('{asset}')
        .addMethod('GET', integration, { requestValidator: validator, requestParameters: { 'method.request.path.asset': true } }),
    ];

    const keyInPlan = (keyId: string, planId: string, names: { key?: string; plan: string }, description: string) => {
      const apiKey = this.api.addApiKey(keyId, {
        ...(names.key ? { apiKeyName: names.key } : {}),
        description: `EventFlow ${props.stage} ${description}`,
      });
      const usagePlan = this.api.addUsagePlan(planId, {
        name: names.plan,
        description: `Throttle and daily quota for EventFlow ${description}`,
        // Over the throttle or the quota API Gateway answers 429 before the Lambda runs (docs/DEPLOY.md).
        throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
        ...(props.quotaPerDay > 0 ? { quota: { limit: props.quotaPerDay, period: apigw.Period.DAY } } : {}),
      });
      usagePlan.addApiKey(apiKey);
      usagePlan.addApiStage({ stage: this.api.deploymentStage });
      return { apiKey, usagePlan };
    };
    const producers = props.producers ?? [];
    // Without producers: the one shared key and plan, under the ids they always had (a default deploy
    // is unchanged). Construct ids never change once deployed: a producer's are derived from its name.
    this.access =
      producers.length === 0
        ? [keyInPlan('ProducerApiKey', 'UsagePlan', { plan: `eventflow-${props.stage}` }, 'producer key')]
        : producers.map((producer) => ({
            producer,
            ...keyInPlan(
              `ProducerApiKey-${producer}`,
              `UsagePlan-${producer}`,
              { key: `eventflow-${props.stage}-${producer}`, plan: `eventflow-${props.stage}-${producer}` },
              `key of producer ${producer}`,
            ),
          }));

    this.acknowledgeFindings(keyedMethods, redrive, openMethods);
  }

  private acknowledgeFindings(keyedMethods: apigw.Method[], redrive: apigw.Method, openMethods: apigw.Method[]): void {
    const v = Validations.of;
    v(this.api).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'No WAF web ACL by default (a fixed monthly cost per ACL and rule): producers are identified by API keys and limited by the usage plan throttle and quota; open routes have their own low method throttle. Attach a web ACL to the stage if the API faces untrusted traffic.',
    });
    const role = this.api.node.tryFindChild('CloudWatchRole');
    if (role) {
      v(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account-level API Gateway logging role; AWS documents this managed policy for it (API Gateway chooses the log groups it writes, so the role cannot be scoped to ours).',
      });
    }
    for (const method of keyedMethods) {
      v(method).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Machine producers authenticate with an API key (usage plan with throttle and quota), the auth model EventFlow is designed around; the handler reads only what the key allows.',
      });
      v(method).acknowledge({ id: 'AwsSolutions-COG4', reason: 'Producers are machines with API keys, not Cognito users.' });
    }
    v(redrive).acknowledge({
      id: 'AwsSolutions-COG4',
      reason: 'Redrive is an operator action authorized with IAM (SigV4) plus the API key; there are no Cognito users.',
    });
    for (const method of openMethods) {
      v(method).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          "Service info, OpenAPI document, its Swagger page and the page's assets are public by design; they expose no event data and have their own method throttle.",
      });
      v(method).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'Public route (service info / API description / docs page and its assets): no user pool applies.',
      });
    }
  }
}

/** One JSON object per request; the API key's id (never the key) identifies the producer. */
function accessLogFormat(): apigw.AccessLogFormat {
  const f = apigw.AccessLogField;
  return apigw.AccessLogFormat.custom(
    // $context.error.messageString is quoted and escaped by API Gateway; a plain message can hold quotes.
    JSON.stringify({
      requestId: f.contextRequestId(),
      requestTime: f.contextRequestTimeEpoch(),
      sourceIp: f.contextIdentitySourceIp(),
      userAgent: f.contextIdentityUserAgent(),
      apiKeyId: f.contextIdentityApiKeyId(),
      caller: f.contextIdentityUser(),
      httpMethod: f.contextHttpMethod(),
      resourcePath: f.contextResourcePath(),
      protocol: f.contextProtocol(),
      status: f.contextStatus(),
      responseLength: f.contextResponseLength(),
      responseLatencyMs: f.contextResponseLatency(),
      integrationStatus: f.contextIntegrationStatus(),
      integrationLatencyMs: f.contextIntegrationLatency(),
      error: f.contextErrorMessageString(), // already a quoted JSON string: unquoted below
      xrayTraceId: f.contextXrayTraceId(),
    }).replace(`"${apigw.AccessLogField.contextErrorMessageString()}"`, apigw.AccessLogField.contextErrorMessageString()),
  );
}
