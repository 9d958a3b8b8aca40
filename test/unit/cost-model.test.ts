// The cost model behind docs/DEPLOY.md's table: each line is price × quantity from the settings and
// counts, totals add up, and the table in DEPLOY.md is exactly what the model prints.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  costTableMarkdown,
  DEFAULT_STACK_SETTINGS,
  DOC_SCENARIOS,
  ESTIMATED_COUNTS,
  monthlyCost,
  PRICES_US_EAST_1,
} from '../../scripts/lib/cost-model.ts';

const line = (estimate: ReturnType<typeof monthlyCost>, prefix: string) => {
  const found = estimate.lines.find((l) => l.item.startsWith(prefix));
  if (!found) throw new Error(`no line ${prefix}`);
  return found.usd;
};

describe('monthlyCost', () => {
  it('charges nothing per event at idle, and no Aurora compute while it is auto-paused (minAcu 0)', () => {
    const idle = monthlyCost({ name: 'idle', events: 0, eventsPerRequest: 1 });
    expect(line(idle, 'API Gateway')).toBe(0);
    expect(line(idle, 'RDS Data API')).toBe(0);
    expect(line(idle, 'Aurora compute')).toBe(0);
    expect(idle.perThousandEventsUsd).toBeNull();
    // 43,800 one-minute ticks a month, 8 Upstash commands each, $2 per million commands.
    expect(line(idle, 'Upstash')).toBeCloseTo((43_800 * 8 * 2) / 1e6, 6);
  });

  it('bills a cluster that never pauses (minAcu 0.5) 0.5 ACU × 730 h', () => {
    const idle = monthlyCost({ name: 'idle', events: 0, eventsPerRequest: 1 }, { ...DEFAULT_STACK_SETTINGS, minAcu: 0.5 });
    expect(line(idle, 'Aurora compute')).toBeCloseTo(0.5 * 730 * 0.12, 6);
  });

  it('counts one API Gateway request per POST: a batch of 100 costs a hundredth', () => {
    const single = monthlyCost({ name: 's', events: 1_000_000, eventsPerRequest: 1 });
    const batch = monthlyCost({ name: 'b', events: 1_000_000, eventsPerRequest: 100 });
    expect(line(single, 'API Gateway')).toBeCloseTo(3.5, 6);
    expect(line(batch, 'API Gateway')).toBeCloseTo(0.035, 6);
  });

  it('prices Lambda as invocations plus GB-seconds at the stack memory', () => {
    const counts = { ...ESTIMATED_COUNTS, consumerMsPerIdleTick: 0, consumerMsPerBatch: 0, ingestMsPerSingle: 1000 };
    const settings = { ...DEFAULT_STACK_SETTINGS, lambdaMemoryMb: 1024 };
    const estimate = monthlyCost({ name: 's', events: 1_000_000, eventsPerRequest: 1 }, settings, counts);
    const invocations = 1_000_000 + 43_800;
    // 1 M requests × 1 s × 1 GB.
    expect(line(estimate, 'Lambda')).toBeCloseTo((invocations / 1e6) * 0.2 + 1_000_000 * 0.0000133334, 6);
  });

  it('follows the schedule interval: five-minute ticks make a fifth of the idle commands', () => {
    const every5 = monthlyCost(
      { name: 'idle', events: 0, eventsPerRequest: 1 },
      { ...DEFAULT_STACK_SETTINGS, consumerScheduleMinutes: 5 },
    );
    expect(line(every5, 'Upstash')).toBeCloseTo((8_760 * 8 * 2) / 1e6, 6);
  });

  it('adds the lines up, and divides by thousands of events', () => {
    for (const scenario of DOC_SCENARIOS) {
      const estimate = monthlyCost(scenario);
      expect(estimate.totalUsd).toBeCloseTo(
        estimate.lines.reduce((sum, l) => sum + l.usd, 0),
        9,
      );
      if (scenario.events > 0) expect(estimate.perThousandEventsUsd).toBeCloseTo(estimate.totalUsd / (scenario.events / 1000), 9);
      for (const l of estimate.lines) expect(l.usd).toBeGreaterThanOrEqual(0);
    }
  });

  it('refuses nonsense volumes', () => {
    expect(() => monthlyCost({ name: 'x', events: -1, eventsPerRequest: 1 })).toThrow(RangeError);
    expect(() => monthlyCost({ name: 'x', events: 1, eventsPerRequest: 0 })).toThrow(RangeError);
  });
});

describe('docs/DEPLOY.md cost table', () => {
  it('is exactly the table the model prints, with the price list date', () => {
    const doc = readFileSync(new URL('../../docs/DEPLOY.md', import.meta.url), 'utf8');
    expect(doc).toContain(costTableMarkdown(DOC_SCENARIOS.map((s) => monthlyCost(s))));
    expect(doc).toContain(PRICES_US_EAST_1.asOf);
  });
});
