// Prometheus metrics for the local runner's /metrics endpoint (scripts/ imports this; no Lambda handler may).
// Must never type a metric name (metric-names.ts holds them) nor be bundled into a Lambda: prom-client is a devDependency.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  assertMetricValue,
  COUNTERS,
  type CounterName,
  declaredLabels,
  GAUGES,
  type GaugeName,
  HISTOGRAMS,
  type HistogramName,
  type Labels,
  type Metrics,
} from './metric-names.ts';

export type PrometheusMetrics = Metrics & {
  readonly registry: Registry;
  /** The registry in Prometheus text exposition format. */
  render(): Promise<string>;
};

/** One prom-client metric per entry of a metric-names table, keyed like the table. */
function buildEach<K extends string, D, M>(defs: Readonly<Record<K, D>>, make: (def: D) => M): Record<K, M> {
  const out = {} as Record<K, M>;
  for (const key of Object.keys(defs) as K[]) out[key] = make(defs[key]);
  return out;
}

/**
 * Prometheus metrics on `registry` (a fresh one by default: the global registry would make a second
 * instance in the same process, e.g. in tests, fail with "already registered").
 */
export function createPrometheusMetrics(registry: Registry = new Registry()): PrometheusMetrics {
  const registers = [registry];
  const counters = buildEach(
    COUNTERS,
    (def) => new Counter({ name: def.prom, help: def.help, labelNames: def.labels, registers }),
  );
  const gauges = buildEach(GAUGES, (def) => new Gauge({ name: def.prom, help: def.help, labelNames: def.labels, registers }));
  const histograms = buildEach(
    HISTOGRAMS,
    (def) => new Histogram({ name: def.prom, help: def.help, labelNames: def.labels, buckets: [...def.buckets], registers }),
  );

  function count(name: CounterName, value = 1, labels?: Labels): void {
    const def = COUNTERS[name];
    assertMetricValue('counter', def.prom, value);
    counters[name].inc(declaredLabels(def.labels, labels), value);
  }

  function gauge(name: GaugeName, value: number): void {
    assertMetricValue('gauge', GAUGES[name].prom, value);
    gauges[name].set(value);
  }

  function observe(name: HistogramName, seconds: number, labels?: Labels): void {
    const def = HISTOGRAMS[name];
    assertMetricValue('histogram', def.prom, seconds);
    histograms[name].observe(declaredLabels(def.labels, labels), seconds);
  }

  /** Prometheus pulls: there is nothing to push. */
  function flush(): void {}

  function render(): Promise<string> {
    return registry.metrics();
  }

  return { count, gauge, observe, flush, registry, render };
}
