import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { enrich } from '../../lambdas/core/drain/enrich.ts';
import { ruleViolations } from '../../lambdas/core/drain/validate.ts';
import {
  type AcceptedEvent,
  acceptEnvelope,
  EVENT_TYPES,
  hasIngestShape,
  parseStreamedEvent,
  toUtcIso,
  validateStreamedEvent,
} from '../../schemas/event.ts';

const receivedAt = new Date('2026-03-01T12:00:00.000Z');
const accept = (input: unknown) => acceptEnvelope(input, { receivedAt, newId: () => '01900000-0000-7000-8000-000000000000' });
const event = (overrides: Partial<AcceptedEvent> = {}): AcceptedEvent => ({
  event_id: '01900000-0000-7000-8000-000000000001',
  event_type: 'custom',
  user_id: null,
  timestamp: receivedAt.toISOString(),
  properties: {},
  received_at: receivedAt.toISOString(),
  ...overrides,
});

describe('the envelope', () => {
  it('fills defaults: a new id, the receive time, empty properties', () => {
    expect(accept({ event_type: 'custom' })).toEqual({
      ok: true,
      timestampGiven: false,
      event: event({ event_id: '01900000-0000-7000-8000-000000000000' }),
    });
  });

  it('reads a timestamp without offset as UTC and converts offsets to UTC', () => {
    expect(toUtcIso('2026-01-02T03:04:05')).toBe('2026-01-02T03:04:05.000Z');
    expect(toUtcIso('2026-01-02T10:00:00+05:30')).toBe('2026-01-02T04:30:00.000Z');
    const result = accept({ event_type: 'custom', timestamp: '2026-01-02T10:00:00-02:00' });
    expect(result.ok && result.event.timestamp).toBe('2026-01-02T12:00:00.000Z');
  });

  it('lower-cases a given event_id so lookups and idempotency do not depend on case', () => {
    const result = accept({ event_type: 'custom', event_id: 'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA' });
    expect(result.ok && result.event.event_id).toBe('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
  });

  it.each([
    [{}, 'event_type', 'must be one of purchase, user_signup, page_view, custom'],
    [{ event_type: 'custom', user_id: '' }, 'user_id', 'must not be empty'],
    [{ event_type: 'custom', user_id: 7 }, 'user_id', 'must be a string'],
    [{ event_type: 'custom', timestamp: 'yesterday' }, 'timestamp', 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z'],
    [{ event_type: 'custom', properties: 'x' }, 'properties', 'must be a JSON object'],
    [
      { event_type: 'custom', properties: { a: { constructor: 1 } } },
      'properties.a.constructor',
      'key "constructor" is reserved',
    ],
    // Only JSON.parse makes an own `__proto__` key; at the top of properties zod's record copy used to drop it (202).
    [
      JSON.parse('{"event_type":"custom","properties":{"__proto__":{"x":1}}}'),
      'properties.__proto__',
      'key "__proto__" is reserved',
    ],
    [
      JSON.parse('{"event_type":"custom","properties":{"a":{"__proto__":{"x":1}}}}'),
      'properties.a.__proto__',
      'key "__proto__" is reserved',
    ],
    [{ event_type: 'custom', properties: [1] }, 'properties', 'must be a JSON object'],
  ])('refuses %j at %s: %s', (input, path, message) => {
    expect(accept(input)).toEqual({ ok: false, issues: [expect.objectContaining({ path, message })] });
  });

  it("reports a reserved key at the top of properties next to the other fields' issues", () => {
    const input = JSON.parse('{"event_type":"refund","properties":{"__proto__":{"x":1}}}');
    expect(accept(input)).toEqual({
      ok: false,
      issues: [
        { path: 'event_type', message: 'must be one of purchase, user_signup, page_view, custom' },
        { path: 'properties.__proto__', message: 'key "__proto__" is reserved' },
      ],
    });
  });

  it('bounds nesting depth inside properties', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 9; i++) deep = { d: deep };
    const result = accept({ event_type: 'custom', properties: deep });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues[0]?.message).toBe('nesting deeper than 8 levels');
  });

  it.each([
    ['arrays', (inner: unknown) => [inner]],
    ['objects', (inner: unknown) => ({ d: inner })],
    ['arrays and objects mixed', (inner: unknown, level: number) => (level % 3 === 0 ? { d: inner } : [inner])],
  ])('refuses %s nested 100,000 levels deep with one issue, without overflowing the stack', (_name, wrap) => {
    let deep: unknown = 1;
    for (let level = 0; level < 100_000; level++) deep = (wrap as (inner: unknown, level: number) => unknown)(deep, level);
    const result = accept({ event_type: 'custom', properties: { p: deep } });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues).toEqual([
      { path: expect.stringMatching(/^properties\.p/), message: 'nesting deeper than 8 levels' },
    ]);
  });

  it('accepts exactly 8 levels of arrays inside properties and refuses 9', () => {
    const levels = (n: number) => JSON.parse(`${'['.repeat(n)}1${']'.repeat(n)}`);
    expect(accept({ event_type: 'custom', properties: { p: levels(8) } }).ok).toBe(true);
    expect(accept({ event_type: 'custom', properties: { p: levels(9) } })).toEqual({
      ok: false,
      issues: [{ path: 'properties.p[0][0][0][0][0][0][0][0]', message: 'nesting deeper than 8 levels' }],
    });
  });

  it('never throws on nesting of any depth and shape (fuzzed)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50_000 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), (depth, shape) => {
        let deep: unknown = 'leaf';
        for (let level = 0; level < depth; level++) deep = shape[level % shape.length] ? [deep] : { k: deep };
        const result = accept({ event_type: 'custom', properties: { p: deep } });
        expect(result.ok).toBe(depth <= 8);
      }),
      { numRuns: 40 },
    );
  });

  it('never throws and never accepts a non-object, whatever the input (fuzzed)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (input) => {
        const result = accept(input);
        if (result.ok) expect(typeof input === 'object' && input !== null && !Array.isArray(input)).toBe(true);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});

describe('business rules', () => {
  const now = receivedAt;
  const rules = (e: AcceptedEvent) => ruleViolations(e, { now, futureSkewMs: 300_000 }).map((i) => `${i.path} ${i.message}`);

  it('purchases need a positive numeric amount; 0 is "greater than 0", not "missing"', () => {
    expect(rules(event({ event_type: 'purchase' }))).toEqual(['properties.amount is required for purchase events']);
    expect(rules(event({ event_type: 'purchase', properties: { amount: '5' } }))).toEqual(['properties.amount must be a number']);
    expect(rules(event({ event_type: 'purchase', properties: { amount: 0 } }))).toEqual([
      'properties.amount must be greater than 0',
    ]);
    expect(rules(event({ event_type: 'purchase', properties: { amount: 0.01 } }))).toEqual([]);
  });

  it('signups need a user_id', () => {
    expect(rules(event({ event_type: 'user_signup' }))).toEqual(['user_id is required for user_signup events']);
    expect(rules(event({ event_type: 'user_signup', user_id: 'u' }))).toEqual([]);
  });

  it('tolerates clock skew up to the configured limit, not beyond', () => {
    expect(rules(event({ timestamp: new Date(now.getTime() + 300_000).toISOString() }))).toEqual([]);
    expect(rules(event({ timestamp: new Date(now.getTime() + 300_001).toISOString() }))).toEqual([
      'timestamp is more than 300 s in the future',
    ]);
  });
});

describe('enrichment', () => {
  const context = { workerId: 'w1', now: receivedAt };
  it('marks purchases over 1000 high value and the rest standard', () => {
    expect(enrich(event({ event_type: 'purchase', properties: { amount: 1000.01 } }), context).category).toBe('high_value');
    expect(enrich(event({ event_type: 'purchase', properties: { amount: 1000 } }), context).category).toBe('standard');
  });
  it('gives page views their session start and always records the worker and time', () => {
    expect(enrich(event({ event_type: 'page_view' }), context)).toEqual({
      processed_by: 'w1',
      processing_timestamp: receivedAt.toISOString(),
      session_start: receivedAt.toISOString(),
    });
  });
});

describe('stream entries', () => {
  it('round-trip an accepted event and reject anything else', () => {
    const e = event({ properties: { emoji: '🎉', quote: "'; DROP TABLE x; --" } });
    expect(parseStreamedEvent(JSON.stringify(e))).toEqual(e);
    expect(parseStreamedEvent(null)).toBeNull();
    expect(parseStreamedEvent('{')).toBeNull();
    expect(parseStreamedEvent(JSON.stringify({ ...e, event_type: 'refund' }))).toBeNull();
  });

  // Fields of every kind a stream entry may carry: what the ingest writes, near misses, and garbage.
  const isoAnyYear = fc
    .date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
    .map((date) => date.toISOString());
  const field = {
    event_id: fc.oneof(
      fc.uuid(),
      fc.uuid().map((id) => id.toUpperCase()),
      fc.constantFrom('00000000-0000-0000-0000-000000000000', '01900000-0000-9000-8000-000000000001', 'not-a-uuid', ''),
      fc.string(),
      fc.integer(),
    ),
    event_type: fc.constantFrom<unknown>(...EVENT_TYPES, 'refund', 'Purchase', 1, null),
    user_id: fc.oneof(fc.constant(null), fc.string(), fc.integer()),
    time: fc.oneof(
      isoAnyYear,
      fc.constantFrom(
        '2026-02-29T00:00:00.000Z',
        '2024-02-29T00:00:00.000Z',
        '2026-04-31T00:00:00.000Z',
        '2026-13-01T00:00:00.000Z',
        '2026-11-30T24:00:00.000Z',
        '2026-11-30T12:00:60.000Z',
        '2026-11-30T12:00:00Z',
        '2026-11-30T12:00:00.000+01:00',
        '2026-11-30T12:00:00.000',
        '+012026-11-30T12:00:00.000Z',
      ),
      fc.string(),
    ),
    properties: fc.oneof(
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')),
      fc.array(fc.integer()),
      fc.constant(null),
      fc.string(),
    ),
  };
  const entryValue = fc
    .record({
      event_id: field.event_id,
      event_type: field.event_type,
      user_id: field.user_id,
      timestamp: field.time,
      properties: field.properties,
      received_at: field.time,
    })
    .chain((value) =>
      fc.oneof(
        fc.constant(value as Record<string, unknown>),
        fc.constantFrom('event_id', 'user_id', 'properties').map((key) => {
          const { [key]: _dropped, ...rest } = value;
          return rest;
        }),
        fc.record({ extra: fc.jsonValue() }).map((extra) => ({ ...value, ...extra })),
      ),
    );

  it('take the cheap path only for values zod accepts unchanged, and agree with zod on every value', () => {
    let cheap = 0;
    fc.assert(
      fc.property(entryValue, (value) => {
        const data = JSON.stringify(value);
        const parsed = JSON.parse(data) as unknown;
        if (hasIngestShape(parsed)) {
          cheap++;
          expect(validateStreamedEvent(JSON.parse(data))).toEqual(parsed);
        }
        expect(parseStreamedEvent(data)).toEqual(validateStreamedEvent(JSON.parse(data)));
      }),
      { numRuns: 3000 },
    );
    expect(cheap).toBeGreaterThan(0);
  });

  it('take the cheap path for every event the ingest accepts', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            event_id: fc.uuid(),
            event_type: fc.constantFrom(...EVENT_TYPES),
            user_id: fc.string({ minLength: 1, maxLength: 20 }),
            timestamp: isoAnyYear,
            properties: fc.dictionary(fc.string(), fc.jsonValue()),
          },
          { requiredKeys: ['event_type'] },
        ),
        (envelope) => {
          const result = accept(envelope);
          fc.pre(result.ok);
          if (result.ok) expect(hasIngestShape(JSON.parse(JSON.stringify(result.event)))).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('leave poison to the full check: a __proto__ key in properties is dropped, as zod drops it', () => {
    const data = `{"event_id":"01900000-0000-7000-8000-000000000001","event_type":"custom","user_id":null,"timestamp":"2026-03-01T12:00:00.000Z","properties":{"__proto__":{"x":1},"a":1},"received_at":"2026-03-01T12:00:00.000Z"}`;

    expect(hasIngestShape(JSON.parse(data))).toBe(false);
    const parsed = parseStreamedEvent(data);
    expect(parsed?.properties).toEqual({ a: 1 });
    expect(Object.hasOwn(parsed?.properties ?? {}, '__proto__')).toBe(false);
  });
});
