// The one list of EventFlow's metrics: Prometheus names (local /metrics) and their EMF twins
// (CloudWatch). Code, dashboard and alarms all read it, so names cannot drift. No I/O here.

export const METRICS_NAMESPACE_DEFAULT = 'EventFlow';

/**
 * The label a producer's metrics carry without a producer identity (no API key id, no PRODUCER_KEYS):
 * every event then comes from the one "default" producer, as before producers existed.
 */
export const DEFAULT_PRODUCER_LABEL = 'default';

// `producer` is a label only where a request is counted (ingest): its values are bounded by the
// configured keys (CDK `producers`, PRODUCER_KEYS), never by what a client sends. In CloudWatch it is
// its own dimension set (`emfDimensionSets`) rather than crossed with event_type or reason, so each
// producer adds one custom metric per counter instead of one per event type.
export const COUNTERS = {
  eventsReceived: {
    prom: 'events_received_total',
    emf: 'EventsReceived',
    help: 'Events accepted by the API',
    labels: ['event_type', 'producer'],
    emfDimensionSets: [['event_type'], ['producer']],
  },
  eventsProcessed: {
    prom: 'events_processed_total',
    emf: 'EventsProcessed',
    help: 'Events written to processed_events',
    labels: ['event_type'],
  },
  eventsFailed: {
    prom: 'events_failed_total',
    emf: 'EventsFailed',
    help: 'Events written to failed_events',
    labels: ['event_type', 'error_type'],
  },
  eventsDuplicate: {
    prom: 'events_duplicate_total',
    emf: 'EventsDuplicate',
    help: 'Deliveries of events that already had an outcome',
    labels: ['event_type'],
  },
  eventsRetried: {
    prom: 'events_retried_total',
    emf: 'EventsRetried',
    help: 'Deliveries left pending after a transient failure',
    labels: ['error_type'],
  },
  eventsRejected: {
    prom: 'events_rejected_total',
    emf: 'EventsRejected',
    help: 'Requests refused with a 4xx',
    labels: ['reason', 'producer'],
    emfDimensionSets: [['reason'], ['producer']],
  },
  eventsRepublished: {
    prom: 'events_republished_total',
    emf: 'EventsRepublished',
    help: 'Raw events re-added to the stream by the reconciler',
    labels: [],
  },
  ingestFallback: {
    prom: 'events_ingest_fallback_total',
    emf: 'IngestFallback',
    help: 'Events accepted into the SQS fallback queue',
    labels: [],
  },
  // The two kinds of failed outcome, so alarms can tell producer data from our own failures; together
  // they count the same events as eventsFailed. Emitted by the consumer (lambdas/core).
  deadLettersRuleViolation: {
    prom: 'dead_letters_rule_violation_total',
    emf: 'DeadLettersRuleViolation',
    help: 'Failed events that broke a business rule (producer data; error_type RuleViolation)',
    labels: ['event_type'],
  },
  deadLettersInfrastructure: {
    prom: 'dead_letters_infrastructure_total',
    emf: 'DeadLettersInfrastructure',
    help: 'Failed events for any other reason (retries exhausted, unparsable entries, refused writes)',
    labels: ['event_type', 'error_type'],
  },
  deadLetterPublishFailed: {
    prom: 'dead_letter_publish_failed_total',
    emf: 'DeadLetterPublishFailed',
    help: 'Failed events that could not be sent to the SQS DLQ',
    labels: [],
  },
  drainPaused: {
    prom: 'drain_paused_total',
    emf: 'DrainPaused',
    help: 'Times the consumer stopped taking work because a dependency was unavailable',
    labels: ['dependency'],
  },
} as const;

export const GAUGES = {
  queueDepth: {
    prom: 'queue_depth',
    emf: 'QueueDepth',
    help: 'Backlog: entries not yet delivered plus delivered and unacknowledged',
    labels: [],
  },
  queueLag: { prom: 'queue_lag', emf: 'QueueLag', help: 'Entries not yet delivered to the consumer group', labels: [] },
  queuePending: { prom: 'queue_pending', emf: 'QueuePending', help: 'Entries delivered and not acknowledged', labels: [] },
  oldestPendingAge: {
    prom: 'queue_oldest_pending_age_seconds',
    emf: 'OldestPendingAgeSeconds',
    help: 'Age of the oldest unacknowledged entry',
    labels: [],
  },
  streamLength: { prom: 'stream_length', emf: 'StreamLength', help: 'XLEN of the stream', labels: [] },
  activeWorkers: { prom: 'active_workers', emf: 'ActiveWorkers', help: 'Consumers running', labels: [] },
} as const;

export const HISTOGRAMS = {
  processingDuration: {
    prom: 'event_processing_duration_seconds',
    emf: 'EventProcessingDuration',
    help: 'Time to process a batch, per event',
    labels: ['event_type'],
    buckets: [0.1, 0.5, 1, 2, 5, 10],
  },
  queueWait: {
    prom: 'event_queue_wait_time_seconds',
    emf: 'EventQueueWaitTime',
    help: 'Time from enqueue to outcome',
    labels: [],
    buckets: [1, 5, 10, 30, 60, 300],
  },
} as const;

export type CounterName = keyof typeof COUNTERS;

/**
 * The CloudWatch dimension sets of a metric (besides `service`, and the `service`-only roll-up): its
 * `emfDimensionSets` when declared, else all its labels as one set. Prometheus always gets every label.
 */
export function emfDimensionSetsOf(def: {
  readonly labels: readonly string[];
  readonly emfDimensionSets?: ReadonlyArray<readonly string[]>;
}): ReadonlyArray<readonly string[]> {
  return def.emfDimensionSets ?? (def.labels.length > 0 ? [def.labels] : []);
}
export type GaugeName = keyof typeof GAUGES;
export type HistogramName = keyof typeof HISTOGRAMS;
export type Labels = Readonly<Record<string, string>>;

/** What the pipeline records. EMF (Lambda) and Prometheus (local server) implement it. */
export interface Metrics {
  count(name: CounterName, value?: number, labels?: Labels): void;
  gauge(name: GaugeName, value: number): void;
  /** Seconds. */
  observe(name: HistogramName, seconds: number, labels?: Labels): void;
  /** Publishes what was recorded since the last flush (EMF writes to stdout; Prometheus no-ops). */
  flush(): void;
}

/** The value a declared label gets when the caller left it out or empty. */
export const UNKNOWN_LABEL_VALUE = 'unknown';

/**
 * Exactly the declared label names, in declared order. Missing or empty values become "unknown" and
 * undeclared names are dropped: a metric always carries the same label set, so a CloudWatch dimension
 * set (and a Prometheus series) never splits on a caller's slip, and a stray label cannot create
 * unbounded custom metrics. Both backends use it, so they agree.
 */
export function declaredLabels(declared: readonly string[], labels: Labels | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of declared) {
    const value = labels?.[name];
    out[name] = value === undefined || value === '' ? UNKNOWN_LABEL_VALUE : value;
  }
  return out;
}

/** Counters must only grow and every value must serialise as a JSON number (NaN would become null). */
export function assertMetricValue(kind: 'counter' | 'gauge' | 'histogram', name: string, value: number): void {
  if (!Number.isFinite(value)) throw new RangeError(`${kind} ${name}: value must be a finite number, got ${value}`);
  if (kind === 'counter' && value < 0) throw new RangeError(`counter ${name}: value must not be negative, got ${value}`);
}
