// Sends realistic mixed events (some deliberately invalid) to the ingest API at a steady rate and summarises the replies.
// Must never exceed its concurrency bound nor exit non-zero for refused events: only an unreachable server fails the run.
import { parseArgs } from 'node:util';
import { MAX_BATCH_EVENTS } from '../schemas/event.ts';
import { createEventGenerator, type EventKind, type GeneratedEvent } from './lib/event-generator.ts';

const USAGE = `Usage: npm run producer -- [options]

  --count N          events to send (default 100)
  --rate N           events per second (default 50)
  --url URL          API base URL (default http://127.0.0.1:3000); events go to <URL>/events
  --invalid F        share of deliberately invalid events, 0..1 (default 0.1):
                     half break the schema (expect 400), half break business rules (202, then dead-lettered)
  --batch N          send N events per request to <URL>/events/batch as {"events": [...]} (1..100);
                     the API refuses a whole batch with 400 when any event in it breaks the schema
  --concurrency N    requests in flight at most (default 16)
  --api-key KEY      sent as x-api-key (default: $EVENTFLOW_API_KEY)
  --seed N           PRNG seed, to repeat a run exactly (default: random, printed in the summary)
  --timeout MS       per-request timeout (default 10000)
  -h, --help         show this help`;

/** The API's limit: a bigger batch is refused whole. */
const MAX_BATCH = MAX_BATCH_EVENTS;

interface ProducerConfig {
  readonly count: number;
  readonly rate: number;
  readonly baseUrl: string;
  readonly invalidFraction: number;
  readonly batch: number | null;
  readonly concurrency: number;
  readonly apiKey: string | undefined;
  readonly seed: number;
  readonly timeoutMs: number;
}

class UsageError extends Error {
  override name = 'UsageError';
}

function parseNumber(
  flag: string,
  raw: string | undefined,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`--${flag} must be ${rule}, got "${raw}"`);
  }
  return value;
}

const isPositiveInteger = (n: number) => Number.isInteger(n) && n >= 1;

function parseConfig(argv: readonly string[]): ProducerConfig | 'help' {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    // parseArgs throws for unknown flags and missing values; its message names the flag.
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);

  const rawUrl = values.url ?? 'http://127.0.0.1:3000';
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got "${rawUrl}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http or https, got "${rawUrl}"`);

  return {
    count: parseNumber('count', values.count, 100, isPositiveInteger, 'a positive integer'),
    rate: parseNumber('rate', values.rate, 50, (n) => n > 0, 'a positive number (events per second)'),
    // Keep any path (an API Gateway stage such as /prod) and append the route to it.
    baseUrl: url.href.replace(/\/+$/, ''),
    invalidFraction: parseNumber('invalid', values.invalid, 0.1, (n) => n >= 0 && n <= 1, 'a fraction between 0 and 1'),
    batch:
      values.batch === undefined
        ? null
        : parseNumber(
            'batch',
            values.batch,
            1,
            (n) => isPositiveInteger(n) && n <= MAX_BATCH,
            `an integer from 1 to ${MAX_BATCH}`,
          ),
    concurrency: parseNumber(
      'concurrency',
      values.concurrency,
      16,
      (n) => isPositiveInteger(n) && n <= 1000,
      'an integer from 1 to 1000',
    ),
    apiKey: values['api-key'] ?? process.env.EVENTFLOW_API_KEY,
    seed: parseNumber('seed', values.seed, Math.floor(Math.random() * 2 ** 31), Number.isSafeInteger, 'an integer'),
    timeoutMs: parseNumber('timeout', values.timeout, 10_000, isPositiveInteger, 'a positive integer (milliseconds)'),
  };
}

function parseCli(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      count: { type: 'string' },
      rate: { type: 'string' },
      url: { type: 'string' },
      invalid: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      'api-key': { type: 'string' },
      seed: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** One HTTP request: a single event, or a batch. */
interface Shipment {
  readonly events: readonly GeneratedEvent[];
}

/** What one request ended as. `network` is set when no HTTP response arrived. */
interface RequestResult {
  readonly status: number | null;
  readonly network: string | null;
  readonly latencyMs: number;
  readonly accepted: number;
  readonly body: unknown;
}

/** Codes that mean "there is no server there", as opposed to a server misbehaving. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function networkCode(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'TIMEOUT';
  // Node's fetch (undici) wraps the socket error: TypeError('fetch failed', { cause: { code } }).
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}

/**
 * How many events of a 2xx reply the server took. A single event is one. A batch reply (202, or 207
 * when some events conflict) says `{accepted, rejected, results}`; per-event `results[].status` and
 * "all of it" are fallbacks so the producer still counts against another server's reply.
 */
function acceptedCount(body: unknown, sent: number, isBatch: boolean): number {
  if (!isBatch || typeof body !== 'object' || body === null) return sent;
  const reply = body as { accepted?: unknown; results?: unknown };
  if (typeof reply.accepted === 'number') return reply.accepted;
  if (Array.isArray(reply.accepted)) return reply.accepted.length;
  if (Array.isArray(reply.results)) {
    return reply.results.filter((r) => (r as { status?: unknown } | null)?.status === 'accepted').length;
  }
  return sent;
}

async function send(config: ProducerConfig, shipment: Shipment): Promise<RequestResult> {
  const isBatch = config.batch !== null;
  const bodies = shipment.events.map((event) => event.body);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'eventflow-producer' };
  if (config.apiKey) headers['x-api-key'] = config.apiKey;
  const started = performance.now();
  try {
    const response = await fetch(`${config.baseUrl}${isBatch ? '/events/batch' : '/events'}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(isBatch ? { events: bodies } : bodies[0]),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    // Read the whole body so the connection goes back to the pool; latency includes it.
    const text = await response.text();
    const latencyMs = performance.now() - started;
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (e.g. an HTML error page from a proxy): keep the text for the report
    }
    const accepted = response.ok ? acceptedCount(body, bodies.length, isBatch) : 0;
    return { status: response.status, network: null, latencyMs, accepted, body };
  } catch (error) {
    return { status: null, network: networkCode(error), latencyMs: performance.now() - started, accepted: 0, body: null };
  }
}

interface Tally {
  readonly statuses: Map<number, number>;
  readonly networkErrors: Map<string, number>;
  readonly latencies: number[];
  readonly generated: Record<EventKind, number>;
  /** Requests whose reply contradicts what they carried (e.g. a schema mistake answered 202). */
  readonly surprises: string[];
  accepted: number;
  rejected: number;
  serverFailed: number;
  lost: number;
  eventsDone: number;
  unreachable: string | null;
}

/** A request carrying any schema mistake must get a 4xx (a batch is refused whole); otherwise a 2xx. */
function expectedStatusClass(events: readonly GeneratedEvent[]): 2 | 4 {
  return events.some((event) => event.kind === 'schema_invalid') ? 4 : 2;
}

function describeShipment(events: readonly GeneratedEvent[]): string {
  if (events.length === 1 && events[0]) return `${events[0].kind}${events[0].flaw ? ` (${events[0].flaw})` : ''}`;
  const flaws = events.flatMap((event) => (event.kind === 'schema_invalid' && event.flaw ? [event.flaw] : []));
  return `batch of ${events.length}${flaws.length > 0 ? ` with schema mistakes (${flaws.join(', ')})` : ' without schema mistakes'}`;
}

function record(tally: Tally, shipment: Shipment, result: RequestResult): void {
  const sent = shipment.events.length;
  tally.eventsDone += sent;
  if (result.status === null) {
    const code = result.network ?? 'unknown';
    tally.networkErrors.set(code, (tally.networkErrors.get(code) ?? 0) + 1);
    tally.lost += sent;
    if (UNREACHABLE_CODES.has(code)) tally.unreachable ??= code;
    return;
  }
  tally.latencies.push(result.latencyMs);
  tally.statuses.set(result.status, (tally.statuses.get(result.status) ?? 0) + 1);
  if (result.status >= 500) tally.serverFailed += sent;
  else {
    tally.accepted += result.accepted;
    tally.rejected += sent - result.accepted;
  }
  // 5xx, 409 (event_id reused with other content) and 429 (throttled) say nothing about the contract.
  const judged = result.status < 500 && result.status !== 409 && result.status !== 429;
  if (judged && Math.floor(result.status / 100) !== expectedStatusClass(shipment.events)) {
    tally.surprises.push(
      `${describeShipment(shipment.events)} got ${result.status}: ${JSON.stringify(result.body).slice(0, 200)}`,
    );
  }
}

/** Progress on stderr: one rewritten line on a terminal, otherwise a line per 10% so logs stay short. */
function createProgress(total: number) {
  const isTty = process.stderr.isTTY === true;
  const started = performance.now();
  let lastDecile = 0;
  let lastDraw = 0;
  function line(tally: Tally): string {
    const seconds = (performance.now() - started) / 1000;
    const percent = Math.floor((tally.eventsDone / total) * 100);
    const rate = seconds > 0 ? (tally.eventsDone / seconds).toFixed(1) : '0.0';
    return `sent ${tally.eventsDone}/${total} (${percent}%)  accepted ${tally.accepted}  rejected ${tally.rejected}  errors ${tally.serverFailed + tally.lost}  ${rate} events/s`;
  }
  function update(tally: Tally): void {
    if (isTty) {
      const now = performance.now();
      if (now - lastDraw < 100 && tally.eventsDone < total) return; // redraw at most 10 times a second
      lastDraw = now;
      process.stderr.write(`\r${line(tally)}\u001b[K`);
      return;
    }
    const decile = Math.floor((tally.eventsDone / total) * 10);
    if (decile > lastDecile) {
      lastDecile = decile;
      process.stderr.write(`${line(tally)}\n`);
    }
  }
  function finish(): void {
    if (isTty) process.stderr.write('\n');
  }
  return { update, finish };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function produce(config: ProducerConfig): Promise<{ tally: Tally; seconds: number }> {
  const generator = createEventGenerator({ seed: config.seed, invalidFraction: config.invalidFraction });
  const perRequest = config.batch ?? 1;
  const tally: Tally = {
    statuses: new Map(),
    networkErrors: new Map(),
    latencies: [],
    generated: { valid: 0, schema_invalid: 0, rule_invalid: 0 },
    surprises: [],
    accepted: 0,
    rejected: 0,
    serverFailed: 0,
    lost: 0,
    eventsDone: 0,
    unreachable: null,
  };
  const progress = createProgress(config.count);
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();

  for (let offset = 0; offset < config.count && tally.unreachable === null; offset += perRequest) {
    // Paced by events, not requests: request k starts when its first event is due at --rate.
    const dueMs = (offset / config.rate) * 1000 - (performance.now() - started);
    if (dueMs > 0) await sleep(dueMs);
    while (inFlight.size >= config.concurrency) await Promise.race(inFlight);
    if (tally.unreachable !== null) break;

    const events = generator.take(Math.min(perRequest, config.count - offset));
    for (const event of events) tally.generated[event.kind] += 1;
    const shipment: Shipment = { events };
    const request = send(config, shipment).then(function settle(result) {
      record(tally, shipment, result);
      progress.update(tally);
      inFlight.delete(request);
    });
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  progress.finish();
  return { tally, seconds: (performance.now() - started) / 1000 };
}

function formatMs(value: number | null): string {
  return value === null ? '-' : `${value.toFixed(1)} ms`;
}

function summary(config: ProducerConfig, tally: Tally, seconds: number): string {
  const sorted = [...tally.latencies].sort((a, b) => a - b);
  const route = config.batch === null ? '/events' : `/events/batch (${config.batch} per request)`;
  const rows: Array<[string, string]> = [
    ['target', `${config.baseUrl}${route}`],
    [
      'sent',
      `${tally.eventsDone} events in ${seconds.toFixed(1)} s (${(tally.eventsDone / Math.max(seconds, 0.001)).toFixed(1)} events/s), seed ${config.seed}`,
    ],
    [
      'generated',
      `valid ${tally.generated.valid}, schema-invalid ${tally.generated.schema_invalid} (expect 400), rule-invalid ${tally.generated.rule_invalid} (expect 202, then dead-lettered)`,
    ],
  ];
  for (const [status, count] of [...tally.statuses].sort(([a], [b]) => a - b)) rows.push([`HTTP ${status}`, `${count} requests`]);
  rows.push(
    ['accepted', `${tally.accepted} events`],
    ['rejected', `${tally.rejected} events (refused by the API)`],
    ['errors', `${tally.serverFailed} events in 5xx replies, ${tally.lost} events without a reply`],
  );
  for (const [code, count] of tally.networkErrors) rows.push([`  ${code}`, `${count} requests`]);
  rows.push([
    'latency',
    `p50 ${formatMs(percentile(sorted, 50))}  p95 ${formatMs(percentile(sorted, 95))}  p99 ${formatMs(percentile(sorted, 99))}`,
  ]);
  if (tally.surprises.length > 0) {
    rows.push(['unexpected', `${tally.surprises.length} replies contradict the event's kind, e.g.:`]);
    for (const surprise of tally.surprises.slice(0, 3)) rows.push(['', surprise]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

function unreachableMessage(config: ProducerConfig, code: string): string {
  if (code === 'ECONNREFUSED') {
    return `Nothing is listening at ${config.baseUrl} (connection refused). Start the local server with \`npm start\`, or pass --url.`;
  }
  return `Cannot reach ${config.baseUrl} (${code}). Check --url, or start the local server with \`npm start\`.`;
}

async function main(): Promise<number> {
  let config: ProducerConfig | 'help';
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { tally, seconds } = await produce(config);
  // With no reply at all the table would be all zeros: the one-line reason says more.
  if (tally.unreachable === null || tally.statuses.size > 0) process.stdout.write(`${summary(config, tally, seconds)}\n`);
  if (tally.unreachable !== null) {
    process.stderr.write(`${unreachableMessage(config, tally.unreachable)}\n`);
    return 1;
  }
  return 0;
}

main().then(
  function exitWith(code) {
    process.exitCode = code;
  },
  function crash(error: unknown) {
    process.stderr.write(`producer failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
