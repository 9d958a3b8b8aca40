// Realistic, seedable test traffic for the producer, load test and bench: valid events plus deliberate mistakes.
// Must never use Math.random or the wall clock directly (runs repeat exactly for a seed), nor do I/O.
import type { EventType } from '../../schemas/event.ts';

/**
 * What the pipeline should do with an event:
 * - `valid`: accepted (202) and processed;
 * - `schema_invalid`: refused by the API with 400 (breaks the envelope in schemas/event.ts);
 * - `rule_invalid`: passes the envelope, so the API accepts it (202), then the consumer dead-letters it
 *   (breaks a business rule: purchase amount, user_signup user_id, future timestamp).
 */
export type EventKind = 'valid' | 'schema_invalid' | 'rule_invalid';

export interface GeneratedEvent {
  readonly kind: EventKind;
  /** The deliberate mistake, e.g. "unknown event_type"; null for valid events. */
  readonly flaw: string | null;
  /** JSON body for POST /events (or one element of a batch). */
  readonly body: Record<string, unknown>;
}

export interface EventGeneratorOptions {
  /** Any integer; the same seed (and clock) gives the same events. */
  readonly seed: number;
  /** Share of events that are deliberately invalid, 0..1 (half schema, half business rule). Default 0. */
  readonly invalidFraction?: number;
  /** Timestamps are taken relative to this clock; pass a fixed one for reproducible output. */
  readonly now?: () => Date;
}

export interface EventGenerator {
  next(): GeneratedEvent;
  take(count: number): GeneratedEvent[];
}

/** A small seeded PRNG (mulberry32): fast, 32-bit state, good enough for test traffic (not for secrets). */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A random RFC 4122 version-4 UUID. */
  uuid(): string;
}

export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  function int(min: number, max: number): number {
    return min + Math.floor(next() * (max - min + 1));
  }
  function chance(probability: number): boolean {
    return next() < probability;
  }
  function pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(next() * items.length)];
    if (item === undefined) throw new RangeError('pick() needs a non-empty list');
    return item;
  }
  function uuid(): string {
    const bytes = Array.from({ length: 16 }, () => int(0, 255));
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40; // version 4
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
    const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return { next, int, chance, pick, uuid };
}

/** Traffic mix of valid events: mostly page views, as on a real site. */
const TYPE_WEIGHTS: ReadonlyArray<readonly [EventType, number]> = [
  ['page_view', 0.45],
  ['purchase', 0.25],
  ['user_signup', 0.15],
  ['custom', 0.15],
];

const PAGES = ['/', '/pricing', '/docs/getting-started', '/blog/launch', '/checkout', '/account'];
const REFERRERS = ['https://www.google.com/', 'https://news.ycombinator.com/', 'newsletter', 'direct'];
const CURRENCIES = ['USD', 'EUR', 'GBP'];
const CUSTOM_NAMES = ['video_played', 'search', 'feature_flag_evaluated', 'file_exported'];

function pickType(random: Random): EventType {
  let roll = random.next();
  for (const [type, weight] of TYPE_WEIGHTS) {
    roll -= weight;
    if (roll < 0) return type;
  }
  return 'custom';
}

/** An ISO date-time for `date` written at offset +05:30 (a valid instant, just not in UTC notation). */
function withIndiaOffset(date: Date): string {
  const shifted = new Date(date.getTime() + 330 * 60_000);
  return `${shifted.toISOString().slice(0, 23)}+05:30`;
}

/** Amounts are skewed like real baskets: most small, about 1 in 8 above 1000 (the high_value category). */
function purchaseAmount(random: Random): number {
  const cents = random.chance(0.12) ? random.int(100_001, 500_000) : random.int(100, 100_000);
  return cents / 100;
}

function properties(type: EventType, random: Random): Record<string, unknown> {
  switch (type) {
    case 'purchase':
      return {
        amount: purchaseAmount(random),
        currency: random.pick(CURRENCIES),
        product_id: `sku_${random.int(1, 500)}`,
        quantity: random.int(1, 5),
      };
    case 'user_signup':
      return { plan: random.pick(['free', 'pro', 'team']), referrer: random.pick(REFERRERS) };
    case 'page_view':
      return {
        page: random.pick(PAGES),
        referrer: random.pick(REFERRERS),
        session_id: `s_${random.int(1, 1_000_000).toString(36)}`,
        duration_ms: random.int(200, 120_000),
      };
    case 'custom':
      return {
        name: random.pick(CUSTOM_NAMES),
        value: { count: random.int(1, 50), tags: ['beta', random.pick(['web', 'ios', 'android'])] },
      };
  }
}

function validBody(random: Random, now: Date): Record<string, unknown> {
  const type = pickType(random);
  const body: Record<string, unknown> = {};
  // Most producers send their own id (so their retries are idempotent); some let the API assign one.
  if (random.chance(0.9)) body.event_id = random.uuid();
  body.event_type = type;
  const hasUser = type === 'purchase' || type === 'user_signup' || random.chance(0.6);
  if (hasUser) body.user_id = `user_${random.int(1, 5000)}`;
  // Up to two minutes old; some in +05:30 notation (the original shifted those wrongly), some left to the API.
  const at = new Date(now.getTime() - random.int(0, 120_000));
  const timestampStyle = random.next();
  if (timestampStyle < 0.7) body.timestamp = at.toISOString();
  else if (timestampStyle < 0.85) body.timestamp = withIndiaOffset(at);
  body.properties = properties(type, random);
  return body;
}

type Flaw = readonly [name: string, apply: (body: Record<string, unknown>, random: Random, now: Date) => void];

/** Mistakes the envelope refuses: the API must answer 400. */
const SCHEMA_FLAWS: readonly Flaw[] = [
  [
    'unknown event_type',
    (body) => {
      body.event_type = 'refund';
    },
  ],
  [
    'missing event_type',
    (body) => {
      delete body.event_type;
    },
  ],
  [
    'properties not an object',
    (body) => {
      body.properties = ['not', 'an', 'object'];
    },
  ],
  [
    'user_id not a string',
    (body, random) => {
      body.user_id = random.int(1, 5000);
    },
  ],
  [
    'user_id longer than 255',
    (body) => {
      body.user_id = 'u'.repeat(256);
    },
  ],
  [
    'timestamp not a date-time',
    (body) => {
      body.timestamp = 'yesterday';
    },
  ],
  [
    'event_id not a UUID',
    (body, random) => {
      body.event_id = `evt-${random.int(1, 99_999)}`;
    },
  ],
  [
    'amount outside properties',
    (body, random) => {
      body.amount = random.int(1, 100);
    },
  ],
];

/** Mistakes only business rules catch: accepted with 202, then dead-lettered by the consumer. */
const RULE_FLAWS: readonly Flaw[] = [
  ['purchase amount 0', (body) => purchaseWith(body, 0)],
  ['purchase amount negative', (body) => purchaseWith(body, -25)],
  // properties is free-form JSON in the envelope, so a string amount is a business-rule failure, not a 400.
  ['purchase amount as string', (body) => purchaseWith(body, '19.99')],
  ['purchase without amount', (body) => purchaseWith(body, undefined)],
  [
    'user_signup without user_id',
    (body, random) => {
      body.event_type = 'user_signup';
      delete body.user_id;
      body.properties = properties('user_signup', random);
    },
  ],
  [
    'timestamp a day in the future',
    (body, _random, now) => {
      body.timestamp = new Date(now.getTime() + 86_400_000).toISOString();
    },
  ],
];

function purchaseWith(body: Record<string, unknown>, amount: unknown): void {
  body.event_type = 'purchase';
  const props: Record<string, unknown> = { currency: 'USD', product_id: 'sku_1', quantity: 1 };
  if (amount !== undefined) props.amount = amount;
  body.properties = props;
}

export function createEventGenerator(options: EventGeneratorOptions): EventGenerator {
  const invalidFraction = options.invalidFraction ?? 0;
  if (!(invalidFraction >= 0 && invalidFraction <= 1)) {
    throw new RangeError(`invalidFraction must be between 0 and 1, got ${invalidFraction}`);
  }
  const random = createRandom(options.seed);
  const now = options.now ?? (() => new Date());

  function next(): GeneratedEvent {
    const at = now();
    const body = validBody(random, at);
    if (!random.chance(invalidFraction)) return { kind: 'valid', flaw: null, body };
    const schemaBroken = random.chance(0.5);
    const [flaw, apply] = random.pick(schemaBroken ? SCHEMA_FLAWS : RULE_FLAWS);
    apply(body, random, at);
    return { kind: schemaBroken ? 'schema_invalid' : 'rule_invalid', flaw, body };
  }

  function take(count: number): GeneratedEvent[] {
    return Array.from({ length: count }, next);
  }

  return { next, take };
}
