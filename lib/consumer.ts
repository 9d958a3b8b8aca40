// The consumer Lambda and the EventBridge schedule that runs it (scheduled or continuous mode).
// Must never retry a failed tick: the next tick comes on schedule and pending entries wait in Redis.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/config/keys.ts';
import type { ConsumerMode } from './config.ts';
import { EventFlowFunction, type FunctionDefaults, type SqlTarget, type StreamTarget } from './eventflow-function.ts';
import type { Queues } from './queues.ts';

export interface ConsumerProps {
  readonly defaults: FunctionDefaults;
  readonly database: SqlTarget;
  readonly stream: StreamTarget;
  readonly queues: Queues;
  readonly mode: ConsumerMode;
  readonly workers: number;
  /** Reserved concurrent executions; undefined reserves none (the consumer shares the account pool). */
  readonly reservedConcurrency?: number;
  /** Minutes between ticks. */
  readonly scheduleMinutes: number;
  readonly batchSize: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
}

/** EventBridge accepts at most five targets per rule. */
export const MAX_TARGETS_PER_RULE = 5;

/**
 * How the schedule and the function are sized for a mode. The concurrency a tick needs is
 * consumerConcurrencyNeeded() in config.ts: reserving it is opt-in (context consumerReservedConcurrency).
 */
export function consumerSizing(mode: ConsumerMode, workers: number) {
  if (mode === 'scheduled') {
    // One invocation per tick drains what is there and ends (`workers` only sizes the reservation).
    return { timeout: Duration.seconds(60), targets: 1 };
  }
  // Continuous: every minute `workers` invocations start and each reads until its time budget is
  // spent (the loop stops itself TIME_MARGIN_MS before the 70 s timeout). Around each tick the old
  // invocations finish their last batch while the new ones start, so up to 2 × workers run at once.
  return { timeout: Duration.seconds(70), targets: workers };
}

export class Consumer extends Construct {
  readonly handler: EventFlowFunction;
  readonly rules: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: ConsumerProps) {
    super(scope, id);
    const sizing = consumerSizing(props.mode, props.workers);
    const failureQueue = props.queues.consumerFailureQueue;

    this.handler = new EventFlowFunction(this, 'Handler', {
      entry: 'lambdas/consumer/handler.ts',
      description: `EventFlow consumer (${props.mode} mode, ${props.workers} workers)`,
      defaults: props.defaults,
      timeout: sizing.timeout,
      // Without a reservation a busy account can throttle a tick; with one, it also caps how many
      // consumers press on Redis and Aurora at once. Opt-in because it fails in new accounts.
      ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrency }),
      environment: {
        [ENV.consumerMode]: props.mode,
        [ENV.batchSize]: String(props.batchSize),
        [ENV.maxAttempts]: String(props.maxAttempts),
        [ENV.retryBaseMs]: String(props.retryBaseMs),
      },
    })
      .bindDatabase(props.database)
      .bindStream(props.stream)
      .bindQueueForSending(ENV.dlqUrl, props.queues.deadLetterQueue)
      .bindQueueForReceiving(ENV.ingestFallbackQueueUrl, props.queues.ingestFallbackQueue);

    // A failed or expired tick is recorded, never retried: a retry would run late, overlap the next
    // tick, and gain nothing (unacknowledged entries are reclaimed (XPENDING + XCLAIM) anyway). Ticks that
    // cannot start within one interval (throttled) are superseded by the next one.
    const interval = Duration.minutes(props.scheduleMinutes);
    this.handler.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: interval,
      onFailure: new destinations.SqsDestination(failureQueue),
    });

    const target = new targets.LambdaFunction(this.handler, {
      retryAttempts: 0,
      // Deliveries EventBridge itself could not make land in the same queue as failed invocations.
      deadLetterQueue: failureQueue,
    });
    const ruleCount = Math.ceil(sizing.targets / MAX_TARGETS_PER_RULE);
    for (let r = 0; r < ruleCount; r++) {
      const inRule = Math.min(MAX_TARGETS_PER_RULE, sizing.targets - r * MAX_TARGETS_PER_RULE);
      // Ids Tick1, Tick2, ... so switching mode or worker count never replaces the first rule.
      const rule = new events.Rule(this, `Tick${r + 1}`, {
        description: `EventFlow consumer tick ${r + 1}/${ruleCount} (${inRule} invocation${inRule === 1 ? '' : 's'} every ${props.scheduleMinutes} min)`,
        schedule: events.Schedule.rate(interval),
      });
      // The same function several times: each target is one more concurrent reader per tick.
      for (let t = 0; t < inRule; t++) rule.addTarget(target);
      this.rules.push(rule);
    }
  }
}
