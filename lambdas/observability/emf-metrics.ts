// CloudWatch metrics for the Lambdas: aggregates what the pipeline records and writes it as EMF via Powertools.
// Must never type a metric name (they come from metric-names.ts) nor put two label sets in one EMF blob.
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import {
  assertMetricValue,
  COUNTERS,
  type CounterName,
  declaredLabels,
  emfDimensionSetsOf,
  GAUGES,
  type GaugeName,
  HISTOGRAMS,
  type HistogramName,
  type Labels,
  type Metrics,
  UNKNOWN_LABEL_VALUE,
} from './metric-names.ts';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

interface Series {
  readonly emf: string;
  readonly unit: Unit;
  readonly dimensions: Record<string, string>;
  /** Which of the labels CloudWatch gets as dimension sets (metric-names.ts emfDimensionSetsOf). */
  readonly dimensionSets: ReadonlyArray<readonly string[]>;
  readonly values: number[];
}

export interface EmfMetricsOptions {
  readonly namespace: string;
  readonly serviceName: string;
  /** An existing Powertools instance (its own namespace and service win); one is created otherwise. */
  readonly metrics?: PowertoolsMetrics;
}

export type EmfMetrics = Metrics & { readonly powertools: PowertoolsMetrics };

/** Key of one series: metric name plus its label values (labels are already in declared order). */
function seriesKey(name: string, dimensions: Record<string, string>): string {
  return JSON.stringify([name, dimensions]);
}

function gaugeUnit(promName: string): Unit {
  return promName.endsWith('_seconds') ? MetricUnit.Seconds : MetricUnit.Count;
}

/**
 * EMF metrics. Counters are summed per (name, labels) in memory and gauges keep their last value, so a
 * batch of 500 events costs one EMF line per label set rather than 500 values. Histogram observations
 * are all kept (CloudWatch computes percentiles from the raw values).
 *
 * On flush each distinct label set becomes its own EMF blob with its dimension sets: the labels plus
 * `service` (or, for a metric that declares `emfDimensionSets`, each declared subset plus `service`,
 * so CloudWatch sums per event type and per producer without a metric per combination), and `service`
 * alone. The last is a roll-up: CloudWatch never sums across dimensions, and alarms cannot use SEARCH,
 * so totals (all event types) need their own dimension set.
 */
export function createEmfMetrics(options: EmfMetricsOptions): EmfMetrics {
  const powertools = options.metrics ?? new PowertoolsMetrics({ namespace: options.namespace, serviceName: options.serviceName });
  let series = new Map<string, Series>();

  function seriesFor(
    emf: string,
    unit: Unit,
    dimensions: Record<string, string>,
    dimensionSets: ReadonlyArray<readonly string[]>,
  ): Series {
    const key = seriesKey(emf, dimensions);
    let found = series.get(key);
    if (!found) {
      found = { emf, unit, dimensions, dimensionSets, values: [] };
      series.set(key, found);
    }
    return found;
  }

  function count(name: CounterName, value = 1, labels?: Labels): void {
    const def = COUNTERS[name];
    assertMetricValue('counter', def.emf, value);
    const entry = seriesFor(def.emf, MetricUnit.Count, declaredLabels(def.labels, labels), emfDimensionSetsOf(def));
    entry.values[0] = (entry.values[0] ?? 0) + value;
  }

  function gauge(name: GaugeName, value: number): void {
    const def = GAUGES[name];
    assertMetricValue('gauge', def.emf, value);
    const entry = seriesFor(def.emf, gaugeUnit(def.prom), declaredLabels(def.labels, undefined), emfDimensionSetsOf(def));
    entry.values[0] = value;
  }

  function observe(name: HistogramName, seconds: number, labels?: Labels): void {
    const def = HISTOGRAMS[name];
    assertMetricValue('histogram', def.emf, seconds);
    seriesFor(def.emf, MetricUnit.Seconds, declaredLabels(def.labels, labels), emfDimensionSetsOf(def)).values.push(seconds);
  }

  /** Starts a blob: Powertools clears dimensions on every publish, including the ones it does by itself. */
  function openBlob(dimensions: Record<string, string>, dimensionSets: ReadonlyArray<readonly string[]>): void {
    if (dimensionSets.length === 0) return; // default dimensions alone give [service]
    for (const set of dimensionSets) {
      powertools.addDimensions(Object.fromEntries(set.map((name) => [name, dimensions[name] ?? UNKNOWN_LABEL_VALUE])));
    }
    powertools.addDimensions({}); // the [service] roll-up (defaults plus an empty set)
  }

  /**
   * Writes one label set. Powertools publishes by itself when a metric reaches 100 values (the EMF
   * limit), which also drops the dimensions: reopen the blob whenever its buffer has been emptied, so
   * the remaining values keep their dimensions.
   */
  function publishLabelSet(
    dimensions: Record<string, string>,
    dimensionSets: ReadonlyArray<readonly string[]>,
    members: readonly Series[],
  ): void {
    let open = false;
    for (const member of members) {
      for (const value of member.values) {
        if (!open) {
          openBlob(dimensions, dimensionSets);
          open = true;
        }
        powertools.addMetric(member.emf, member.unit, value);
        if (!powertools.hasStoredMetrics()) open = false;
      }
    }
    if (open) powertools.publishStoredMetrics();
  }

  function flush(): void {
    // Anything added straight to the Powertools instance goes out first, under its own dimensions,
    // so it never inherits one of our label sets.
    if (powertools.hasStoredMetrics()) powertools.publishStoredMetrics();
    const recorded = series;
    series = new Map();
    const byLabelSet = new Map<
      string,
      { dimensions: Record<string, string>; dimensionSets: ReadonlyArray<readonly string[]>; members: Series[] }
    >();
    for (const entry of recorded.values()) {
      // Metrics share a blob only when they share the label values and the dimension sets built from them.
      const key = JSON.stringify([
        Object.entries(entry.dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        entry.dimensionSets,
      ]);
      const group = byLabelSet.get(key) ?? { dimensions: entry.dimensions, dimensionSets: entry.dimensionSets, members: [] };
      group.members.push(entry);
      byLabelSet.set(key, group);
    }
    // Nothing recorded means no publish call at all: Powertools would warn "No application metrics".
    for (const group of byLabelSet.values()) publishLabelSet(group.dimensions, group.dimensionSets, group.members);
  }

  return { count, gauge, observe, flush, powertools };
}
