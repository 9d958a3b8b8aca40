// The consumer Lambda and the EventBridge schedule that runs it (scheduled or continuous mode).
// Must never retry a failed tick: the next tick comes within a minute and pending entries wait in Redis.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/config-keys.ts';
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
  readonly batchSize: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
}

/** EventBridge accepts at most five targets per rule. */
export const MAX_TARGETS_PER_RULE = 5;

/** How the schedule and the function are sized for a mode. */
export function consumerSizing(mode: ConsumerMode, workers: number) {
  if (mode === 'scheduled') {
    // One invocation a minute drains what is there and ends. The reservation (= workers) both caps
    // how many consumers can press on Redis and Aurora at once and guarantees the tick can start.
    return { timeout: Duration.seconds(60), reservedConcurrency: workers, targets: 1 };
  }
  // Continuous: every minute `workers` invocations start and each reads until its time budget is
  // spent (the loop stops itself TIME_MARGIN_MS before the 70 s timeout). Around each tick the old
  // invocations finish their last batch while the new ones start, so up to 2 × workers run at once;
  // reserving only `workers` would throttle the new tick and leave a gap with nobody reading.
  return { timeout: Duration.seconds(70), reservedConcurrency: 2 * workers, targets: workers };
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
      reservedConcurrentExecutions: sizing.reservedConcurrency,
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
      .bindQueueForDraining(ENV.ingestFallbackQueueUrl, props.queues.ingestFallbackQueue);

    // A failed or expired tick is recorded, never retried: a retry would run late, overlap the next
    // tick, and gain nothing (unacknowledged entries are reclaimed (XPENDING + XCLAIM) anyway). Ticks that
    // cannot start within a minute (throttled) are superseded by the next one.
    this.handler.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.seconds(60),
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
        description: `EventFlow consumer tick ${r + 1}/${ruleCount} (${inRule} invocation${inRule === 1 ? '' : 's'} a minute)`,
        schedule: events.Schedule.rate(Duration.minutes(1)),
      });
      // The same function several times: each target is one more concurrent reader per tick.
      for (let t = 0; t < inRule; t++) rule.addTarget(target);
      this.rules.push(rule);
    }
  }
}
