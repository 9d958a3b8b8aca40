// The VPC: isolated subnets only (no NAT, no internet gateway) for Aurora and, in the ElastiCache
// variant, the Lambdas, which then reach AWS APIs through interface endpoints. Must never add a NAT.
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionPlacement } from './eventflow-function.ts';

export interface NetworkProps {
  /** Lambdas run in the VPC (ElastiCache variant): add their security group and the endpoints they need. */
  readonly lambdasInVpc: boolean;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * aws-cdk-lib declares `Vpc.vpnGatewayId` as `string | undefined` where `IVpc` says `vpnGatewayId?: string`,
 * so under exactOptionalPropertyTypes the class is not assignable to its own interface. The one conversion.
 */
const asIVpc = (vpc: ec2.Vpc): ec2.IVpc => vpc as ec2.IVpc;

export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly isolatedSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  /** Where VPC-attached Lambdas go; undefined when the Lambdas stay outside the VPC (Upstash). */
  readonly functionPlacement?: FunctionPlacement;
  readonly lambdaSecurityGroup?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    // Two AZs: the minimum an Aurora subnet group and ElastiCache Serverless accept.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    });
    this.vpc = asIVpc(vpc);
    // Flow logs are billed per GB ingested; with no internet path the VPC carries little traffic.
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    if (props.lambdasInVpc) {
      this.lambdaSecurityGroup = new ec2.SecurityGroup(this, 'LambdaSecurityGroup', {
        vpc: this.vpc,
        description: 'EventFlow Lambdas (ElastiCache variant)',
        allowAllOutbound: true,
      });
      this.functionPlacement = { vpc: this.vpc, subnets: this.isolatedSubnets, securityGroups: [this.lambdaSecurityGroup] };
      // Exactly the AWS APIs the Lambdas call: no NAT, so nothing else is reachable. CloudWatch Logs
      // needs no endpoint: Lambda ships logs (and EMF metrics) outside the function's network. No
      // Secrets Manager either: the Data API reads the cluster secret itself, and only the Upstash
      // variant (outside the VPC) reads a secret from the function.
      const endpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
        RdsDataEndpoint: ec2.InterfaceVpcEndpointAwsService.RDS_DATA,
        SqsEndpoint: ec2.InterfaceVpcEndpointAwsService.SQS,
      };
      for (const [endpointId, service] of Object.entries(endpoints)) {
        const endpoint = this.vpc.addInterfaceEndpoint(endpointId, {
          service,
          subnets: this.isolatedSubnets,
          open: false,
          privateDnsEnabled: true,
        });
        endpoint.connections.allowDefaultPortFrom(this.lambdaSecurityGroup, 'HTTPS from EventFlow Lambdas');
      }
    }
  }
}
