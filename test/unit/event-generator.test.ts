// Specification of the test-traffic generator: reproducible, honest about which events are invalid and why.
// Must never depend on the wall clock or Math.random (a fixed clock and seeds make every run identical).
import { describe, expect, it } from 'vitest';
import { ruleViolations } from '../../lambdas/core/drain/validate.ts';
import { acceptEnvelope, eventEnvelope } from '../../schemas/event.ts';
import { createEventGenerator, createRandom, type GeneratedEvent } from '../../scripts/lib/event-generator.ts';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const fixedClock = () => NOW;
const RULES = { now: NOW, futureSkewMs: 5 * 60_000 };

function accepted(event: GeneratedEvent) {
  return acceptEnvelope(event.body, { receivedAt: NOW, newId: () => '00000000-0000-4000-8000-000000000000' });
}

describe('createRandom', () => {
  it('repeats the same sequence for the same seed and differs for another', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const first = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(first);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(first);
    for (const value of first) expect(value >= 0 && value < 1).toBe(true);
  });

  it('makes version-4 UUIDs', () => {
    const random = createRandom(7);
    for (let i = 0; i < 50; i++)
      expect(random.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('createEventGenerator', () => {
  it('is deterministic for a seed and clock', () => {
    // Arrange
    const options = { seed: 1234, invalidFraction: 0.3, now: fixedClock };

    // Act
    const first = createEventGenerator(options).take(200);
    const second = createEventGenerator(options).take(200);
    const other = createEventGenerator({ ...options, seed: 1235 }).take(200);

    // Assert
    expect(second).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('generates valid events that pass the envelope and every business rule', () => {
    // Arrange
    const events = createEventGenerator({ seed: 1, now: fixedClock }).take(2000);

    // Assert
    expect(events.every((event) => event.kind === 'valid' && event.flaw === null)).toBe(true);
    for (const event of events) {
      expect(eventEnvelope.safeParse(event.body).success).toBe(true);
      const result = accepted(event);
      if (!result.ok) throw new Error(`refused: ${JSON.stringify(event.body)}`);
      expect(ruleViolations(result.event, RULES)).toEqual([]);
    }
  });

  it('mixes all four event types, with some purchases above 1000 and some events without timestamp or id', () => {
    // Arrange
    const bodies = createEventGenerator({ seed: 2, now: fixedClock })
      .take(2000)
      .map((event) => event.body);

    // Assert
    const types = new Set(bodies.map((body) => body.event_type));
    expect(types).toEqual(new Set(['purchase', 'user_signup', 'page_view', 'custom']));
    const amounts = bodies
      .filter((body) => body.event_type === 'purchase')
      .map((body) => (body.properties as { amount: number }).amount);
    expect(amounts.some((amount) => amount > 1000)).toBe(true);
    expect(amounts.some((amount) => amount <= 1000)).toBe(true);
    expect(bodies.some((body) => body.timestamp === undefined)).toBe(true);
    expect(bodies.some((body) => typeof body.timestamp === 'string' && body.timestamp.endsWith('+05:30'))).toBe(true);
    expect(bodies.some((body) => body.event_id === undefined)).toBe(true);
  });

  it('roughly honours the invalid fraction, split between schema and business-rule mistakes', () => {
    // Arrange
    const events = createEventGenerator({ seed: 3, invalidFraction: 0.2, now: fixedClock }).take(10_000);

    // Act
    const invalid = events.filter((event) => event.kind !== 'valid');
    const schema = invalid.filter((event) => event.kind === 'schema_invalid');

    // Assert
    expect(invalid.length / events.length).toBeGreaterThan(0.18);
    expect(invalid.length / events.length).toBeLessThan(0.22);
    expect(schema.length / invalid.length).toBeGreaterThan(0.4);
    expect(schema.length / invalid.length).toBeLessThan(0.6);
  });

  it('makes schema-invalid events the envelope refuses (the API answers 400)', () => {
    const events = createEventGenerator({ seed: 4, invalidFraction: 1, now: fixedClock })
      .take(1000)
      .filter((event) => event.kind === 'schema_invalid');
    expect(new Set(events.map((event) => event.flaw)).size).toBeGreaterThanOrEqual(6);
    for (const event of events) expect(accepted(event).ok, `${event.flaw}: ${JSON.stringify(event.body)}`).toBe(false);
  });

  it('makes rule-invalid events the envelope accepts and the business rules refuse (dead-lettered)', () => {
    const events = createEventGenerator({ seed: 5, invalidFraction: 1, now: fixedClock })
      .take(1000)
      .filter((event) => event.kind === 'rule_invalid');
    expect(new Set(events.map((event) => event.flaw)).size).toBeGreaterThanOrEqual(5);
    for (const event of events) {
      const result = accepted(event);
      if (!result.ok) throw new Error(`${event.flaw}: refused by the envelope: ${JSON.stringify(result.issues)}`);
      expect(ruleViolations(result.event, RULES), event.flaw ?? '').not.toEqual([]);
    }
  });

  it('never generates invalid events when the fraction is 0, and refuses a fraction outside 0..1', () => {
    expect(
      createEventGenerator({ seed: 6, invalidFraction: 0, now: fixedClock })
        .take(500)
        .every((e) => e.kind === 'valid'),
    ).toBe(true);
    expect(() => createEventGenerator({ seed: 6, invalidFraction: 1.5 })).toThrow(RangeError);
  });
});
