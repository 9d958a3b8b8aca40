// The CloudWatch dashboard and alarms, built from the EMF names in lambdas/observability/metric-names.ts
// (the ones the code emits). Must never type a metric name: a renamed metric would silently flatline.
import { ArnFormat, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { COUNTERS, GAUGES, HISTOGRAMS } from '../lambdas/observability/metric-names.ts';
import type { Queues } from './queues.ts';

export interface ObservabilityProps {
  readonly stage: string;
  /** Powertools service name: the `service` dimension on every EventFlow metric. */
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly api: apigw.RestApi;
  readonly ingestFunction: lambda.IFunction;
  readonly consumerFunction: lambda.IFunction;
  readonly migrateFunction: lambda.IFunction;
  readonly queues: Queues;
  /** Minutes between consumer ticks: the heartbeat alarm waits for more than one interval. */
  readonly consumerScheduleMinutes: number;
  readonly alarmEmail?: string;
  /** No SNS/KMS (LocalStack's free image runs neither): alarms are created without actions. */
  readonly withAlarmTopic: boolean;
  readonly removalPolicy: RemovalPolicy;
}

/** Alarm thresholds: starting points, documented in docs/DEPLOY.md; tune per workload. */
export const ALARM_THRESHOLDS = {
  /** Infrastructure failures (not rule violations) as a share of all outcomes. */
  failureRatePercent: 5,
  queueLagEntries: 10_000,
  oldestPendingAgeSeconds: 300,
  api5xxPer5Minutes: 1,
  consumerErrorsPer5Minutes: 1,
} as const;

const ONE_MINUTE = Duration.minutes(1);
const FIVE_MINUTES = Duration.minutes(5);
const PERCENTILES = ['p50', 'p95', 'p99'] as const;

/**
 * Period of the consumer heartbeat alarm: at least five minutes, and at least two ticks, so one late or
 * throttled tick does not leave a period empty.
 */
export function heartbeatPeriod(scheduleMinutes: number): Duration {
  return Duration.minutes(Math.max(5, 2 * scheduleMinutes));
}

export class Observability extends Construct {
  readonly dashboard: cw.Dashboard;
  readonly alarms: cw.Alarm[] = [];
  readonly alarmTopic?: sns.Topic;

  private readonly props: ObservabilityProps;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.props = props;

    if (props.withAlarmTopic) this.alarmTopic = this.createAlarmTopic();
    this.createAlarms();
    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      // Dashboards are global to the account: the region keeps two regions' stages apart.
      dashboardName: `EventFlow-${props.stage}-${Stack.of(this).region}`,
      defaultInterval: Duration.hours(3),
      widgets: this.widgetRows(),
    });
  }

  // ---- metrics -------------------------------------------------------------------------------

  /** An EventFlow metric with only the `service` dimension: the EMF roll-up (all label values). */
  private total(emf: string, statistic: string, label: string, period = ONE_MINUTE): cw.Metric {
    return new cw.Metric({
      namespace: this.props.metricsNamespace,
      metricName: emf,
      dimensionsMap: { service: this.props.serviceName },
      statistic,
      period,
      label,
    });
  }

  /** One line per label value (event type, error type, ...): SEARCH over the metric's own label set. */
  private byLabels(emf: string, labels: readonly string[], statistic = 'Sum'): cw.MathExpression {
    const schema = [this.props.metricsNamespace, ...labels, 'service'].join(',');
    return new cw.MathExpression({
      expression: `SEARCH('{${schema}} MetricName="${emf}" service="${this.props.serviceName}"', '${statistic}', 60)`,
      usingMetrics: {},
      period: ONE_MINUTE,
    });
  }

  /** Share of outcomes that were failures of one kind (`failedKind`: a counter's EMF name), in %. */
  private failureRate(failedKind: string, label: string, period: Duration): cw.MathExpression {
    // Metric ids must be unique per graph, and two rates can share one: name the id after the metric.
    const id = failedKind.charAt(0).toLowerCase() + failedKind.slice(1);
    return new cw.MathExpression({
      expression: `100 * FILL(${id}, 0) / (FILL(failed, 0) + FILL(processed, 0))`,
      usingMetrics: {
        [id]: this.total(failedKind, 'Sum', label, period),
        failed: this.total(COUNTERS.eventsFailed.emf, 'Sum', 'failed', period),
        processed: this.total(COUNTERS.eventsProcessed.emf, 'Sum', 'processed', period),
      },
      label,
      period,
    });
  }

  // ---- alarms --------------------------------------------------------------------------------

  private createAlarmTopic(): sns.Topic {
    const { props } = this;
    // SNS has no service-managed SSE that CloudWatch can publish through: a customer key with a
    // grant for CloudWatch is the documented way (the AWS managed SNS key cannot be shared).
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: `EventFlow ${props.stage} alarm topic encryption`,
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'], // in a key policy "*" means this key
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `EventFlow ${props.stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    const stack = Stack.of(this);
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsOfThisAccount',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    if (props.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    return topic;
  }

  private alarm(
    id: string,
    description: string,
    metric: cw.IMetric,
    options: {
      threshold: number;
      evaluationPeriods?: number;
      comparison?: cw.ComparisonOperator;
      /** @default NOT_BREACHING: no data means nothing happened (no failures, no traffic) */
      missingData?: cw.TreatMissingData;
    },
  ): cw.Alarm {
    const alarm = new cw.Alarm(this, id, {
      alarmName: `EventFlow-${this.props.stage}-${id}`,
      alarmDescription: description,
      metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: options.comparison ?? cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: options.missingData ?? cw.TreatMissingData.NOT_BREACHING,
    });
    if (this.alarmTopic) {
      const action = new cwActions.SnsAction(this.alarmTopic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.alarms.push(alarm);
    return alarm;
  }

  private createAlarms(): void {
    const { props } = this;
    const t = ALARM_THRESHOLDS;
    // A rate, not a level: nothing deletes from the dead-letter queue (redrive reads failed_events), so
    // "messages visible > 0" would stay red for the 14-day retention after the first failure and hide
    // every later one. NumberOfMessagesSent counts what the consumer sent in the period, so the alarm
    // returns to OK after a quiet period and fires again on the next new dead letter.
    this.alarm(
      'NewDeadLetters',
      'New failed events were sent to the dead-letter queue in the last 5 minutes: inspect failed_events, fix the cause, then POST /admin/redrive.',
      props.queues.deadLetterQueue.metricNumberOfMessagesSent({ period: FIVE_MINUTES, statistic: 'Sum' }),
      { threshold: 0 },
    );
    // A level on purpose: these are accepted events that exist nowhere else. It clears when an operator
    // moves them back to the fallback queue (SQS "Start DLQ redrive"), which the consumer then drains.
    this.alarm(
      'IngestFallbackDeadLetterQueueNotEmpty',
      'Accepted events parked in the ingest fallback queue could not be stored after 5 attempts: they are only in this queue now. Redrive them to the fallback queue once the cause is fixed.',
      props.queues.ingestFallbackDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: ONE_MINUTE,
        statistic: 'Maximum',
      }),
      { threshold: 0 },
    );
    // Only our own failures: rule violations are the producer's data, charted but not paged on.
    this.alarm(
      'InfrastructureFailureRateHigh',
      `More than ${t.failureRatePercent}% of event outcomes were infrastructure failures (not rule violations) for 10 minutes.`,
      this.failureRate(COUNTERS.deadLettersInfrastructure.emf, 'Infrastructure failures (%)', FIVE_MINUTES),
      { threshold: t.failureRatePercent, evaluationPeriods: 2 },
    );
    this.alarm(
      'QueueLagHigh',
      `More than ${t.queueLagEntries} stream entries not yet delivered to the consumers for 10 minutes: add workers or switch to continuous mode.`,
      this.total(GAUGES.queueLag.emf, 'Maximum', 'lag', FIVE_MINUTES),
      { threshold: t.queueLagEntries, evaluationPeriods: 2 },
    );
    this.alarm(
      'OldestPendingTooOld',
      `An entry has been delivered but unacknowledged for more than ${t.oldestPendingAgeSeconds} s: consumers are crashing or stuck.`,
      this.total(GAUGES.oldestPendingAge.emf, 'Maximum', 'oldest pending (s)', FIVE_MINUTES),
      { threshold: t.oldestPendingAgeSeconds, evaluationPeriods: 2 },
    );
    this.alarm(
      'Api5xx',
      'The ingest API returned 5xx responses (503 means neither Postgres nor the fallback queue accepted events).',
      props.api.deploymentStage.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
      // Two periods in a row: an Aurora resume from auto-pause (~15 s of 503s on reads) is not an incident.
      {
        threshold: t.api5xxPer5Minutes,
        evaluationPeriods: 2,
        comparison: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
    );
    this.alarm(
      'ConsumerErrors',
      'Consumer invocations failed (function errors or timeouts) in two consecutive 5-minute periods; failed ticks are in the consumer failure queue.',
      props.consumerFunction.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
      {
        threshold: t.consumerErrorsPer5Minutes,
        evaluationPeriods: 2,
        comparison: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      },
    );
    // QueueLag and OldestPendingAge come from the consumer alone and count missing data as fine, so a
    // consumer that stops being invoked (rule disabled, throttled, failing at cold start) would silence
    // them. The consumer emits ActiveWorkers once per invocation: no sample for two heartbeat periods
    // (each at least two ticks long) is itself the alarm.
    const heartbeat = heartbeatPeriod(props.consumerScheduleMinutes);
    this.alarm(
      'ConsumerHeartbeatMissing',
      `No consumer invocation reported for ${2 * heartbeat.toMinutes()} minutes: check the schedule rule, throttles and the consumer's logs; stream lag alarms are blind meanwhile.`,
      this.total(GAUGES.activeWorkers.emf, 'SampleCount', 'consumer invocations', heartbeat),
      {
        threshold: 1,
        evaluationPeriods: 2,
        comparison: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        missingData: cw.TreatMissingData.BREACHING,
      },
    );
  }

  // ---- dashboard -----------------------------------------------------------------------------

  private widgetRows(): cw.IWidget[][] {
    const { props } = this;
    const c = COUNTERS;
    const g = GAUGES;
    const h = HISTOGRAMS;
    const graph = (title: string, left: cw.IMetric[], width = 8, extra: Partial<cw.GraphWidgetProps> = {}) =>
      new cw.GraphWidget({ title, left, width, height: 6, ...extra });
    const percentiles = (emf: string, what: string) => PERCENTILES.map((p) => this.total(emf, p, `${what} ${p}`));
    const lambdas = [
      ['ingest', props.ingestFunction],
      ['consumer', props.consumerFunction],
      ['migrate', props.migrateFunction],
    ] as const;
    const stage = props.api.deploymentStage;
    const queues = Object.entries(props.queues.all);

    return [
      [
        new cw.TextWidget({
          markdown: `# EventFlow ${props.stage}\nService \`${props.serviceName}\`, namespace \`${props.metricsNamespace}\`. Counters are per minute.`,
          width: 24,
          height: 2,
        }),
      ],
      [
        graph('Throughput', [
          this.total(c.eventsReceived.emf, 'Sum', 'received'),
          this.total(c.eventsProcessed.emf, 'Sum', 'processed'),
          this.total(c.eventsFailed.emf, 'Sum', 'failed'),
          this.total(c.eventsDuplicate.emf, 'Sum', 'duplicate'),
        ]),
        graph('Received by event type', [this.byLabels(c.eventsReceived.emf, c.eventsReceived.emfDimensionSets[0])]),
        graph('Processed by event type', [this.byLabels(c.eventsProcessed.emf, c.eventsProcessed.labels)]),
      ],
      [
        // One line per API key id (CDK context `producers`); "default" where requests had no key id.
        graph('Received by producer', [this.byLabels(c.eventsReceived.emf, c.eventsReceived.emfDimensionSets[1])], 12),
        graph('Rejected requests by producer', [this.byLabels(c.eventsRejected.emf, c.eventsRejected.emfDimensionSets[1])], 12),
      ],
      [
        graph('Failures by error type and event type', [this.byLabels(c.eventsFailed.emf, c.eventsFailed.labels)]),
        graph('Retries by error type', [this.byLabels(c.eventsRetried.emf, c.eventsRetried.labels)]),
        graph(
          'Failure rate (%)',
          [
            this.failureRate(COUNTERS.deadLettersInfrastructure.emf, 'infrastructure', ONE_MINUTE),
            this.failureRate(COUNTERS.deadLettersRuleViolation.emf, 'rule violations', ONE_MINUTE),
          ],
          8,
          {
            leftAnnotations: [
              { value: ALARM_THRESHOLDS.failureRatePercent, label: 'alarm (infrastructure)', color: cw.Color.RED },
            ],
          },
        ),
      ],
      [
        graph('Dead letters by kind', [
          this.total(c.deadLettersInfrastructure.emf, 'Sum', 'infrastructure'),
          this.total(c.deadLettersRuleViolation.emf, 'Sum', 'rule violations'),
        ]),
        graph('Infrastructure dead letters by error type', [
          this.byLabels(c.deadLettersInfrastructure.emf, c.deadLettersInfrastructure.labels),
        ]),
        graph('Rule violations by event type', [
          this.byLabels(c.deadLettersRuleViolation.emf, c.deadLettersRuleViolation.labels),
        ]),
      ],
      [
        graph('Duplicates by event type', [this.byLabels(c.eventsDuplicate.emf, c.eventsDuplicate.labels)]),
        graph('Rejected requests by reason', [this.byLabels(c.eventsRejected.emf, c.eventsRejected.emfDimensionSets[0])]),
        graph('Recovery paths', [
          this.total(c.ingestFallback.emf, 'Sum', 'accepted into SQS fallback'),
          this.total(c.eventsRepublished.emf, 'Sum', 'republished by reconciler'),
          this.total(c.deadLetterPublishFailed.emf, 'Sum', 'DLQ publish failed'),
        ]),
        graph('Drain paused by an unavailable dependency', [this.byLabels(c.drainPaused.emf, c.drainPaused.labels)]),
      ],
      [
        graph('Stream backlog', [
          this.total(g.queueDepth.emf, 'Maximum', 'depth'),
          this.total(g.queueLag.emf, 'Maximum', 'lag (undelivered)'),
          this.total(g.queuePending.emf, 'Maximum', 'pending (unacked)'),
          this.total(g.streamLength.emf, 'Maximum', 'stream length'),
        ]),
        graph('Oldest pending entry (s)', [this.total(g.oldestPendingAge.emf, 'Maximum', 'oldest pending age')], 8, {
          leftAnnotations: [{ value: ALARM_THRESHOLDS.oldestPendingAgeSeconds, label: 'alarm', color: cw.Color.RED }],
        }),
        // Each invocation reports 1 once, so the per-minute Sum counts the consumers that ran
        // (Maximum would read 1 whatever the number).
        graph('Consumer invocations (per minute)', [this.total(g.activeWorkers.emf, 'Sum', 'invocations reporting')]),
      ],
      [
        graph('Processing time per event (s)', percentiles(h.processingDuration.emf, 'processing')),
        graph('Queue wait, enqueue to outcome (s)', percentiles(h.queueWait.emf, 'queue wait')),
        graph(
          'SQS queues (visible messages)',
          queues.map(([name, queue]) =>
            queue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum', label: name }),
          ),
        ),
      ],
      [
        graph('API latency (ms)', [
          ...PERCENTILES.map((p) => stage.metricLatency({ statistic: p, period: ONE_MINUTE, label: `latency ${p}` })),
          stage.metricIntegrationLatency({ statistic: 'p95', period: ONE_MINUTE, label: 'integration p95' }),
        ]),
        graph('API requests and errors', [
          stage.metricCount({ statistic: 'Sum', period: ONE_MINUTE, label: 'requests' }),
          stage.metricClientError({ statistic: 'Sum', period: ONE_MINUTE, label: '4xx' }),
          stage.metricServerError({ statistic: 'Sum', period: ONE_MINUTE, label: '5xx' }),
        ]),
        graph(
          'Lambda concurrency',
          lambdas.map(([name, fn]) =>
            fn.metric('ConcurrentExecutions', { statistic: 'Maximum', period: ONE_MINUTE, label: name }),
          ),
        ),
      ],
      [
        graph(
          'Lambda errors',
          lambdas.map(([name, fn]) => fn.metricErrors({ statistic: 'Sum', period: ONE_MINUTE, label: name })),
        ),
        graph(
          'Lambda throttles',
          lambdas.map(([name, fn]) => fn.metricThrottles({ statistic: 'Sum', period: ONE_MINUTE, label: name })),
        ),
        graph(
          'Lambda duration p95 (ms)',
          lambdas.map(([name, fn]) => fn.metricDuration({ statistic: 'p95', period: ONE_MINUTE, label: name })),
        ),
      ],
      [new cw.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 })],
    ];
  }
}
