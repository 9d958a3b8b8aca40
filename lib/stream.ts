// The Redis stream backend: Upstash (URL + token in an operator-made secret), ElastiCache Serverless
// Valkey in the VPC, or LocalStack's local Upstash endpoint. Must never put a real token in the template.
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, type EnvKey } from '../lambdas/config/keys.ts';
import type { LocalEndpoints } from './config.ts';
import type { StreamTarget } from './eventflow-function.ts';
import type { Network } from './network.ts';

/** The stream and group names; the code's defaults, set explicitly so a change is visible here. */
export const STREAM_KEY = 'events';
export const CONSUMER_GROUP = 'workers';

export type StreamBackendProps =
  | { readonly kind: 'upstash'; readonly secretName: string }
  | { readonly kind: 'elasticache'; readonly network: Network; readonly cacheName: string; readonly removalPolicy: RemovalPolicy }
  | { readonly kind: 'local'; readonly endpoints: LocalEndpoints };

export class StreamBackend extends Construct implements StreamTarget {
  readonly streamEnvironment: Readonly<Partial<Record<EnvKey, string>>>;
  /** Upstash only: the operator-created secret holding {"url","token"}. */
  readonly upstashSecret?: secretsmanager.ISecret;
  /** ElastiCache only. */
  readonly cache?: elasticache.CfnServerlessCache;

  constructor(scope: Construct, id: string, props: StreamBackendProps) {
    super(scope, id);
    const names = { [ENV.streamKey]: STREAM_KEY, [ENV.consumerGroup]: CONSUMER_GROUP };

    switch (props.kind) {
      case 'upstash': {
        // Imported by name: the template never sees the token, and the secret outlives the stack.
        this.upstashSecret = secretsmanager.Secret.fromSecretNameV2(this, 'UpstashSecret', props.secretName);
        this.streamEnvironment = {
          [ENV.streamDriver]: 'upstash',
          [ENV.upstashSecretArn]: this.upstashSecret.secretArn,
          ...names,
        };
        break;
      }
      case 'elasticache': {
        const placement = props.network.functionPlacement;
        if (!placement) throw new Error('StreamBackend: the ElastiCache variant needs a network with Lambdas in the VPC');
        const cacheSecurityGroup = new ec2.SecurityGroup(this, 'CacheSecurityGroup', {
          vpc: props.network.vpc,
          description: 'EventFlow Valkey cache: Redis protocol from the EventFlow Lambdas only',
          allowAllOutbound: false,
        });
        for (const lambdaGroup of placement.securityGroups) {
          cacheSecurityGroup.addIngressRule(lambdaGroup, ec2.Port.tcp(6379), 'Valkey (TLS) from EventFlow Lambdas');
        }
        this.cache = new elasticache.CfnServerlessCache(this, 'Cache', {
          engine: 'valkey',
          majorEngineVersion: '8',
          serverlessCacheName: props.cacheName,
          description: 'EventFlow event stream',
          subnetIds: props.network.vpc.selectSubnets(props.network.isolatedSubnets).subnetIds,
          securityGroupIds: [cacheSecurityGroup.securityGroupId],
          // A ceiling on the bill: consumers trim acknowledged entries (XTRIM MINID), so the cache holds
          // only the backlog; 10 GB is far above any healthy one.
          cacheUsageLimits: { dataStorage: { maximum: 10, unit: 'GB' } },
        });
        this.cache.applyRemovalPolicy(props.removalPolicy);
        // ElastiCache Serverless always speaks TLS, hence rediss://.
        this.streamEnvironment = {
          [ENV.streamDriver]: 'ioredis',
          [ENV.redisUrl]: `rediss://${this.cache.attrEndpointAddress}:${this.cache.attrEndpointPort}`,
          ...names,
        };
        break;
      }
      case 'local': {
        // LocalStack only: a throwaway token for the local endpoint, so a plain env var is fine.
        this.streamEnvironment = {
          [ENV.streamDriver]: 'upstash',
          [ENV.upstashUrl]: props.endpoints.upstashUrl,
          [ENV.upstashToken]: props.endpoints.upstashToken,
          ...names,
        };
        break;
      }
    }
  }

  grantConnect(grantee: iam.IGrantable): void {
    if (!this.upstashSecret) return; // ElastiCache: the security group is the access control.
    // An imported-by-name ARN lacks the 6-character suffix Secrets Manager appends: match exactly that.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [`${this.upstashSecret.secretArn}-??????`],
    });
  }
}

/** The cache name must be unique per account and region; stage keeps stacks apart. */
export function cacheNameFor(stage: string): string {
  return `eventflow-${stage}`.slice(0, 40);
}
