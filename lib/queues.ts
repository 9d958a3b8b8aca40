// The SQS queues: events' dead-letter queue, the ingest fallback queue (with its own DLQ) and the
// consumer's async-failure queue. All SSE and TLS-only. Must never hold a consumer or a grant itself.
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueuesProps {
  readonly removalPolicy: RemovalPolicy;
}

// Messages here are evidence (failed events, accepted-but-unprocessed events): keep them the maximum.
const RETENTION = Duration.days(14);

export class Queues extends Construct {
  /** Failed events, for inspection and POST /admin/redrive. */
  readonly deadLetterQueue: sqs.Queue;
  /** Accepted events parked while Postgres was unreachable; the consumer drains it. */
  readonly ingestFallbackQueue: sqs.Queue;
  /** Fallback messages the consumer could not drain after 5 receives. */
  readonly ingestFallbackDeadLetterQueue: sqs.Queue;
  /** Consumer invocations that failed or were never run (Lambda async onFailure, EventBridge DLQ). */
  readonly consumerFailureQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    const common = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
      removalPolicy: props.removalPolicy,
    };

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', common);
    this.ingestFallbackDeadLetterQueue = new sqs.Queue(this, 'IngestFallbackDeadLetterQueue', common);
    this.ingestFallbackQueue = new sqs.Queue(this, 'IngestFallbackQueue', {
      ...common,
      // Longer than one consumer tick (~70 s), so a message being drained is not handed out twice.
      visibilityTimeout: Duration.minutes(2),
      deadLetterQueue: { queue: this.ingestFallbackDeadLetterQueue, maxReceiveCount: 5 },
    });
    this.consumerFailureQueue = new sqs.Queue(this, 'ConsumerFailureQueue', common);

    const sinkReason =
      'This queue is itself a terminal dead-letter sink (nothing consumes it automatically, so nothing can fail to process it); its depth is alarmed or shown on the dashboard and it is read by operators or POST /admin/redrive.';
    for (const sink of [this.deadLetterQueue, this.consumerFailureQueue]) {
      Validations.of(sink).acknowledge({ id: 'AwsSolutions-SQS3', reason: sinkReason });
    }
  }

  /** Every queue, for dashboards and outputs. */
  get all(): Record<string, sqs.Queue> {
    return {
      DeadLetterQueue: this.deadLetterQueue,
      IngestFallbackQueue: this.ingestFallbackQueue,
      IngestFallbackDeadLetterQueue: this.ingestFallbackDeadLetterQueue,
      ConsumerFailureQueue: this.consumerFailureQueue,
    };
  }
}
