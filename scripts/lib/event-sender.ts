// Paced sending of generated events to the ingest API for the producer and load test: shared flags, the send loop, the tally.
// Must never exceed its concurrency bound, keep sending once nothing is there, nor print: callers report progress and results.
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_BATCH_EVENTS } from '../../schemas/event.ts';
import { apiKeyOrEnv, type FlagValues, integerBetween, parseBaseUrl, parseNumber } from './cli.ts';
import { createEventGenerator, type EventKind, type GeneratedEvent } from './event-generator.ts';
import { type HttpReply, type HttpResponseReply, isUnreachable, requestJson } from './http-client.ts';

/** The flags both senders take; each script adds its own (how many events, timeouts…). */
export const SEND_FLAGS = {
  rate: { type: 'string' },
  url: { type: 'string' },
  invalid: { type: 'string' },
  batch: { type: 'string' },
  concurrency: { type: 'string' },
  'api-key': { type: 'string' },
  seed: { type: 'string' },
} as const;

export interface SendOptions {
  /** Events per second offered. */
  readonly rate: number;
  readonly baseUrl: string;
  readonly invalidFraction: number;
  /** Events per request to /events/batch; null: one event per POST /events. */
  readonly batch: number | null;
  readonly concurrency: number;
  readonly apiKey: string | undefined;
  readonly seed: number;
}

/** SEND_FLAGS read with this script's defaults; throws UsageError for a refused value. */
export function toSendOptions(
  values: FlagValues<typeof SEND_FLAGS>,
  defaults: { readonly rate: number; readonly invalidFraction: number; readonly concurrency: number },
): SendOptions {
  return {
    rate: parseNumber('rate', values.rate, defaults.rate, (n) => n > 0, 'a positive number (events per second)'),
    baseUrl: parseBaseUrl(values.url),
    invalidFraction: parseNumber(
      'invalid',
      values.invalid,
      defaults.invalidFraction,
      (n) => n >= 0 && n <= 1,
      'a fraction between 0 and 1',
    ),
    batch:
      values.batch === undefined
        ? null
        : parseNumber('batch', values.batch, 1, integerBetween(1, MAX_BATCH_EVENTS), `an integer from 1 to ${MAX_BATCH_EVENTS}`),
    concurrency: parseNumber(
      'concurrency',
      values.concurrency,
      defaults.concurrency,
      integerBetween(1, 1000),
      'an integer from 1 to 1000',
    ),
    apiKey: apiKeyOrEnv(values['api-key']),
    // A random seed by default; the scripts print it so a run can be repeated.
    seed: parseNumber('seed', values.seed, Math.floor(Math.random() * 2 ** 31), Number.isSafeInteger, 'an integer'),
  };
}

/** What the replies so far came to, counted in events except `statuses` and `networkErrors` (requests). */
export interface SendTally {
  /** Events whose request has settled. */
  sent: number;
  accepted: number;
  /** Refused by the API (a reply below 500 that did not accept them). */
  rejected: number;
  /** In 5xx replies. */
  serverFailed: number;
  /** In requests without a reply. */
  lost: number;
  readonly statuses: Map<number, number>;
  readonly networkErrors: Map<string, number>;
  /** Per request with a reply, in ms. */
  readonly latencies: number[];
  readonly generated: Record<EventKind, number>;
  /** The first code that said nothing is there; sending stops at it. */
  unreachable: string | null;
}

export interface SendHooks {
  readonly userAgent: string;
  readonly timeoutMs: number;
  /** How many of the request's events a reply below 500 accepted. */
  accepted(reply: HttpResponseReply, events: readonly GeneratedEvent[]): number;
  /** After each request is tallied: progress, checks of the reply. */
  settled?(reply: HttpReply, events: readonly GeneratedEvent[], tally: SendTally): void;
}

export interface SendRun {
  readonly tally: SendTally;
  /** performance.now() when the first request was due. */
  readonly startedAt: number;
  readonly elapsedMs: number;
}

function record(tally: SendTally, reply: HttpReply, events: readonly GeneratedEvent[], hooks: SendHooks): void {
  const count = events.length;
  tally.sent += count;
  if (reply.status === null) {
    tally.networkErrors.set(reply.network, (tally.networkErrors.get(reply.network) ?? 0) + 1);
    tally.lost += count;
    if (isUnreachable(reply.network)) tally.unreachable ??= reply.network;
    return;
  }
  tally.latencies.push(reply.latencyMs);
  tally.statuses.set(reply.status, (tally.statuses.get(reply.status) ?? 0) + 1);
  if (reply.status >= 500) {
    tally.serverFailed += count;
    return;
  }
  const accepted = hooks.accepted(reply, events);
  tally.accepted += accepted;
  tally.rejected += count - accepted;
}

/** How often one request is resent after a 429 or 503 that said when to come back. */
export const RETRY_AFTER_ATTEMPTS = 5;
/** The longest wait a Retry-After is obeyed for; a longer one counts as the final answer. */
export const RETRY_AFTER_MAX_S = 60;

/**
 * Sends, and after a 429 (backpressure, API Gateway throttling) or 503 with `Retry-After`, waits as told
 * and sends the same events again (same event_ids: a resend is always safe), a few times at most.
 */
export async function sendObeyingRetryAfter(send: () => Promise<HttpReply>): Promise<HttpReply> {
  let reply = await send();
  for (let attempt = 1; attempt < RETRY_AFTER_ATTEMPTS; attempt++) {
    const wait = reply.status === 429 || reply.status === 503 ? reply.retryAfterSeconds : undefined;
    if (wait === undefined || wait > RETRY_AFTER_MAX_S) return reply;
    await sleep(wait * 1000);
    reply = await send();
  }
  return reply;
}

/**
 * Sends `count` generated events, singly to POST /events or in batches to POST /events/batch as {"events": [...]},
 * paced by events (request k starts when its first event is due at the rate) with at most `concurrency` requests in
 * flight; when that bound is reached, sending falls behind the rate. Stops early once a reply says nothing is there.
 */
export async function sendEvents(options: SendOptions, count: number, hooks: SendHooks): Promise<SendRun> {
  const generator = createEventGenerator({ seed: options.seed, invalidFraction: options.invalidFraction });
  const perRequest = options.batch ?? 1;
  const path = options.batch === null ? '/events' : '/events/batch';
  const tally: SendTally = {
    sent: 0,
    accepted: 0,
    rejected: 0,
    serverFailed: 0,
    lost: 0,
    statuses: new Map(),
    networkErrors: new Map(),
    latencies: [],
    generated: { valid: 0, schema_invalid: 0, rule_invalid: 0 },
    unreachable: null,
  };
  const inFlight = new Set<Promise<void>>();
  const startedAt = performance.now();
  for (let offset = 0; offset < count && tally.unreachable === null; offset += perRequest) {
    const dueMs = (offset / options.rate) * 1000 - (performance.now() - startedAt);
    if (dueMs > 0) await sleep(dueMs);
    while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
    if (tally.unreachable !== null) break;
    const events = generator.take(Math.min(perRequest, count - offset));
    for (const event of events) tally.generated[event.kind] += 1;
    const bodies = events.map((event) => event.body);
    const request = sendObeyingRetryAfter(() =>
      requestJson(`${options.baseUrl}${path}`, {
        method: 'POST',
        body: options.batch === null ? bodies[0] : { events: bodies },
        apiKey: options.apiKey,
        userAgent: hooks.userAgent,
        timeoutMs: hooks.timeoutMs,
      }),
    ).then(function settle(reply) {
      try {
        record(tally, reply, events, hooks);
        hooks.settled?.(reply, events, tally);
      } finally {
        inFlight.delete(request);
      }
    });
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  return { tally, startedAt, elapsedMs: performance.now() - startedAt };
}

/** The tally as report rows: accepted, rejected and errors in events, then the requests by HTTP status and error code. */
export function tallyRows(tally: SendTally): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['accepted', `${tally.accepted} events`],
    ['rejected', `${tally.rejected} events (refused by the API)`],
    ['errors', `${tally.serverFailed} events in 5xx replies, ${tally.lost} events without a reply`],
  ];
  for (const [status, count] of [...tally.statuses].sort(([a], [b]) => a - b))
    rows.push([`  HTTP ${status}`, `${count} requests`]);
  for (const [code, count] of tally.networkErrors) rows.push([`  ${code}`, `${count} requests`]);
  return rows;
}
