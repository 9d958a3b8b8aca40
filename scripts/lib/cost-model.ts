// Monthly AWS + Upstash cost of one EventFlow stage from its settings, per-event request counts and a
// dated price list: the arithmetic behind docs/DEPLOY.md's cost table. Pure: no I/O, no clock.

/** List prices (USD) in one region on one date. Always-free tiers are NOT applied (see DEPLOY.md). */
export interface PriceList {
  readonly region: string;
  /** When these prices were read, and from where. */
  readonly asOf: string;
  readonly source: string;
  readonly apiGatewayRestPerMillion: number;
  readonly lambdaRequestsPerMillion: number;
  /** arm64 duration price. */
  readonly lambdaGbSecond: number;
  readonly dataApiPerMillion: number;
  readonly auroraAcuHour: number;
  readonly auroraIoPerMillion: number;
  readonly auroraStorageGbMonth: number;
  readonly sqsPerMillion: number;
  /** Upstash pay-as-you-go. */
  readonly upstashPerMillionCommands: number;
  readonly logsIngestPerGb: number;
  readonly customMetricMonth: number;
  /** A standard-resolution alarm is billed per metric it evaluates. */
  readonly alarmMetricMonth: number;
  readonly dashboardMonth: number;
  readonly secretMonth: number;
  readonly kmsKeyMonth: number;
  readonly xrayPerMillionTraces: number;
}

export const PRICES_US_EAST_1: PriceList = {
  region: 'us-east-1',
  asOf: '2026-11-30',
  source:
    'AWS public price pages (API Gateway, Lambda, Aurora, SQS, CloudWatch, Secrets Manager, KMS, X-Ray) and upstash.com/pricing, as recorded in the repo on that date; not re-read live',
  apiGatewayRestPerMillion: 3.5,
  lambdaRequestsPerMillion: 0.2,
  lambdaGbSecond: 0.0000133334,
  dataApiPerMillion: 0.35,
  auroraAcuHour: 0.12,
  auroraIoPerMillion: 0.2,
  auroraStorageGbMonth: 0.1,
  sqsPerMillion: 0.4,
  upstashPerMillionCommands: 2.0,
  logsIngestPerGb: 0.5,
  customMetricMonth: 0.3,
  alarmMetricMonth: 0.1,
  dashboardMonth: 3,
  secretMonth: 0.4,
  kmsKeyMonth: 1,
  xrayPerMillionTraces: 5,
};

/** What the template deploys (test/infra/stack.test.ts checks these against a synthesized stack). */
export interface StackSettings {
  readonly lambdaMemoryMb: number;
  readonly consumerScheduleMinutes: number;
  /** 0 = auto-pause when idle. */
  readonly minAcu: number;
  readonly maxAcu: number;
  /** Metrics evaluated by all alarms together (a metric-math alarm counts each metric). */
  readonly alarmMetrics: number;
  readonly dashboards: number;
  /** The cluster secret and the Upstash secret. */
  readonly secrets: number;
  /** The alarm topic's key. */
  readonly kmsKeys: number;
  /** API Gateway stage tracing with X-Ray's default rule: the first request each second, then 5 %. */
  readonly xrayReservoirPerSecond: number;
  readonly xrayFixedRate: number;
}

export const DEFAULT_STACK_SETTINGS: StackSettings = {
  lambdaMemoryMb: 512,
  consumerScheduleMinutes: 1,
  minAcu: 0,
  maxAcu: 4,
  alarmMetrics: 10,
  dashboards: 1,
  secrets: 2,
  kmsKeys: 1,
  xrayReservoirPerSecond: 1,
  xrayFixedRate: 0.05,
};

/**
 * Requests, durations and bytes per unit of work: our best reading of the code, to be replaced by
 * `npm run bench` figures (the bench measures them and can pass its own object here).
 */
export interface UsageCounts {
  readonly ingestMsPerSingle: number;
  readonly ingestMsPerBatch: number;
  readonly consumerMsPerIdleTick: number;
  readonly consumerMsPerBatch: number;
  readonly consumerBatchSize: number;
  readonly dataApiPerSinglePost: number;
  readonly dataApiPerBatchPost: number;
  readonly dataApiPerConsumerBatch: number;
  readonly upstashPerEventIngest: number;
  readonly upstashPerConsumerBatch: number;
  readonly upstashPerTick: number;
  readonly sqsPerTick: number;
  readonly logBytesPerApiRequest: number;
  readonly logBytesPerTick: number;
  readonly logBytesPerConsumerBatch: number;
  readonly auroraIoPerEvent: number;
  readonly storageBytesPerEvent: number;
  /** ACU-seconds of work per event above the 0.5 ACU a running cluster holds anyway. */
  readonly auroraAcuSecondsPerEvent: number;
  /** Custom metric series alive at idle (gauges) and with traffic (plus counters per label set). */
  readonly metricsIdle: number;
  readonly metricsBusy: number;
}

/**
 * Per-event counts. Requests per event are measured by `npm run bench` phase (k) (Data API calls and
 * Upstash commands counted at the local endpoints); Lambda milliseconds are estimates for AWS (the
 * bench's own are local, with no network round trips to Aurora and Upstash, so they understate them).
 */
export const ESTIMATED_COUNTS: UsageCounts = {
  ingestMsPerSingle: 60,
  ingestMsPerBatch: 150,
  consumerMsPerIdleTick: 500,
  consumerMsPerBatch: 300,
  consumerBatchSize: 100,
  // Ingest: one multi-row INSERT … RETURNING per request (single or batch).
  dataApiPerSinglePost: 1,
  dataApiPerBatchPost: 1,
  // Consumer: measured by `npm run bench` phase (k), 2026-11-30: 11 Data API calls per 1,000 events drained
  // in batches of 100 (one outcome statement per batch, plus the reconciler and trim now and then).
  dataApiPerConsumerBatch: 1.1,
  // One XADD per event (a pipeline still bills each command).
  upstashPerEventIngest: 1,
  // Measured (phase k): 24 Upstash commands per 1,000 events in batches of 100 — XACK travels with the
  // next XREADGROUP, XPENDING runs once per retry base, not per batch.
  upstashPerConsumerBatch: 2.4,
  // Per tick: XPENDING + an empty XREADGROUP, maintenance (XINFO, XPENDING summary, XTRIM, consumer
  // pruning) and the shared reconcile timer.
  upstashPerTick: 8,
  // Maintenance receives from the ingest fallback queue once per tick.
  sqsPerTick: 1,
  logBytesPerApiRequest: 1500,
  logBytesPerTick: 2000,
  logBytesPerConsumerBatch: 1500,
  auroraIoPerEvent: 3,
  storageBytesPerEvent: 2500,
  auroraAcuSecondsPerEvent: 0.01,
  metricsIdle: 6,
  metricsBusy: 50,
};

export interface Scenario {
  readonly name: string;
  /** Events accepted in the month. */
  readonly events: number;
  /** 1 for single POST /events, 100 for POST /events/batch of 100. */
  readonly eventsPerRequest: number;
}

export interface CostLine {
  readonly item: string;
  readonly usd: number;
  /** The quantity the price was applied to, for the reader. */
  readonly basis: string;
}

export interface CostEstimate {
  readonly scenario: Scenario;
  readonly lines: readonly CostLine[];
  readonly totalUsd: number;
  /** Total / (events / 1000); null at idle. */
  readonly perThousandEventsUsd: number | null;
}

const HOURS_PER_MONTH = 730;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
const M = 1_000_000;
/** A running Serverless v2 cluster holds at least this much, even with minAcu 0. */
const RUNNING_FLOOR_ACU = 0.5;

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toPrecision(2));

/**
 * One month of one scenario. Traffic is assumed spread evenly over the month, the costly case for
 * auto-pause: any traffic keeps Aurora running all month (a burst once a day would cost far less).
 */
export function monthlyCost(
  scenario: Scenario,
  settings: StackSettings = DEFAULT_STACK_SETTINGS,
  counts: UsageCounts = ESTIMATED_COUNTS,
  prices: PriceList = PRICES_US_EAST_1,
): CostEstimate {
  const { events, eventsPerRequest } = scenario;
  if (!(events >= 0) || !(eventsPerRequest >= 1)) throw new RangeError('events must be >= 0 and eventsPerRequest >= 1');
  const requests = Math.ceil(events / eventsPerRequest);
  const ticks = (SECONDS_PER_MONTH / 60 / settings.consumerScheduleMinutes) | 0;
  const batches = Math.ceil(events / counts.consumerBatchSize);
  const gb = settings.lambdaMemoryMb / 1024;
  const ingestSeconds = (requests * (eventsPerRequest === 1 ? counts.ingestMsPerSingle : counts.ingestMsPerBatch)) / 1000;
  const consumerSeconds = (ticks * counts.consumerMsPerIdleTick + batches * counts.consumerMsPerBatch) / 1000;
  const invocations = requests + ticks;

  const dataApiCalls =
    requests * (eventsPerRequest === 1 ? counts.dataApiPerSinglePost : counts.dataApiPerBatchPost) +
    batches * counts.dataApiPerConsumerBatch;
  const upstashCommands =
    events * counts.upstashPerEventIngest + batches * counts.upstashPerConsumerBatch + ticks * counts.upstashPerTick;

  const eventsPerSecond = events / SECONDS_PER_MONTH;
  const running = events > 0 || settings.minAcu > 0;
  const avgAcu = running
    ? Math.min(settings.maxAcu, Math.max(settings.minAcu, RUNNING_FLOOR_ACU) + eventsPerSecond * counts.auroraAcuSecondsPerEvent)
    : 0;
  const acuHours = avgAcu * HOURS_PER_MONTH;

  const xrayTraces =
    Math.min(requests, settings.xrayReservoirPerSecond * SECONDS_PER_MONTH) +
    settings.xrayFixedRate * Math.max(0, requests - settings.xrayReservoirPerSecond * SECONDS_PER_MONTH);
  const logGb =
    (requests * counts.logBytesPerApiRequest + ticks * counts.logBytesPerTick + batches * counts.logBytesPerConsumerBatch) / 1e9;
  const metrics = events > 0 ? counts.metricsBusy : counts.metricsIdle;
  const storageGb = (events * counts.storageBytesPerEvent) / 1e9;

  const lines: CostLine[] = [
    {
      item: 'API Gateway (REST)',
      usd: (requests / M) * prices.apiGatewayRestPerMillion,
      basis: `${fmt(requests / M)} M requests`,
    },
    {
      item: 'Lambda (requests + GB-s, arm64)',
      usd: (invocations / M) * prices.lambdaRequestsPerMillion + (ingestSeconds + consumerSeconds) * gb * prices.lambdaGbSecond,
      basis: `${fmt(invocations / M)} M invocations, ${fmt(((ingestSeconds + consumerSeconds) * gb) / 1000)} k GB-s`,
    },
    { item: 'RDS Data API', usd: (dataApiCalls / M) * prices.dataApiPerMillion, basis: `${fmt(dataApiCalls / M)} M calls` },
    { item: 'Aurora compute', usd: acuHours * prices.auroraAcuHour, basis: `${fmt(acuHours)} ACU-h (avg ${fmt(avgAcu)} ACU)` },
    {
      item: 'Aurora I/O + storage (first month)',
      usd: ((events * counts.auroraIoPerEvent) / M) * prices.auroraIoPerMillion + storageGb * prices.auroraStorageGbMonth,
      basis: `${fmt((events * counts.auroraIoPerEvent) / M)} M I/O, ${fmt(storageGb)} GB`,
    },
    {
      item: 'Upstash',
      usd: (upstashCommands / M) * prices.upstashPerMillionCommands,
      basis: `${fmt(upstashCommands / M)} M commands`,
    },
    {
      item: 'SQS',
      usd: ((ticks * counts.sqsPerTick) / M) * prices.sqsPerMillion,
      basis: `${fmt((ticks * counts.sqsPerTick) / M)} M requests`,
    },
    {
      item: 'CloudWatch (logs, metrics, alarms, dashboard)',
      usd:
        logGb * prices.logsIngestPerGb +
        metrics * prices.customMetricMonth +
        settings.alarmMetrics * prices.alarmMetricMonth +
        settings.dashboards * prices.dashboardMonth,
      basis: `${fmt(logGb)} GB logs, ${metrics} metrics, ${settings.alarmMetrics} alarm metrics`,
    },
    {
      item: 'X-Ray (API stage tracing)',
      usd: (xrayTraces / M) * prices.xrayPerMillionTraces,
      basis: `${fmt(xrayTraces / M)} M traces`,
    },
    {
      item: 'Secrets Manager + KMS',
      usd: settings.secrets * prices.secretMonth + settings.kmsKeys * prices.kmsKeyMonth,
      basis: `${settings.secrets} secrets, ${settings.kmsKeys} key`,
    },
  ];
  const totalUsd = lines.reduce((sum, line) => sum + line.usd, 0);
  return { scenario, lines, totalUsd, perThousandEventsUsd: events > 0 ? totalUsd / (events / 1000) : null };
}

/** The scenarios docs/DEPLOY.md shows. */
export const DOC_SCENARIOS: readonly Scenario[] = [
  { name: 'idle', events: 0, eventsPerRequest: 1 },
  { name: '1 M, single POSTs', events: 1_000_000, eventsPerRequest: 1 },
  { name: '1 M, batches of 100', events: 1_000_000, eventsPerRequest: 100 },
  { name: '100 M, single POSTs', events: 100_000_000, eventsPerRequest: 1 },
  { name: '100 M, batches of 100', events: 100_000_000, eventsPerRequest: 100 },
];

const usd = (n: number) =>
  n >= 1000 ? `$${Math.round(n).toLocaleString('en-US')}` : n >= 10 ? `$${n.toFixed(0)}` : `$${n.toFixed(2)}`;

/** A Markdown table: one row per cost item, one column per scenario, then totals and per 1,000 events. */
export function costTableMarkdown(estimates: readonly CostEstimate[]): string {
  const header = `| Item | ${estimates.map((e) => e.scenario.name).join(' | ')} |`;
  const rule = `|---|${estimates.map(() => '---:').join('|')}|`;
  const items = estimates[0]?.lines.map((line) => line.item) ?? [];
  const rows = items.map((item, i) => `| ${item} | ${estimates.map((e) => usd(e.lines[i]?.usd ?? 0)).join(' | ')} |`);
  const total = `| **Total per month** | ${estimates.map((e) => `**${usd(e.totalUsd)}**`).join(' | ')} |`;
  const perK = `| **Per 1,000 events** | ${estimates
    .map((e) => (e.perThousandEventsUsd === null ? '—' : `**$${e.perThousandEventsUsd.toFixed(4)}**`))
    .join(' | ')} |`;
  return [header, rule, ...rows, total, perK].join('\n');
}
