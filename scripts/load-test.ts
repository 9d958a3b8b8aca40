// `npm run load-test`: offers generated events to a running EventFlow at a fixed rate, waits for the backlog to drain,
// and reports API latency, completion time and throughput. Must never judge figures (only "did it drain") nor write
// anything but the events it sends; it reads GET /metrics/summary and GET /events/{id} to follow them.
import { parseArgs } from 'node:util';
import { createEventGenerator, type EventKind } from './lib/event-generator.ts';
import { formatLatency, formatRate, perSecond, summarize } from './lib/stats.ts';

const USAGE = `Usage: npm run load-test -- [options]

  --events N       events to send (default 1000)
  --rate N         events per second offered (default 100)
  --url URL        API base URL (default http://127.0.0.1:3000)
  --batch N        N events per request to <URL>/events/batch (1..100); default one event per POST /events
  --concurrency N  requests in flight at most (default 64); when reached, sending falls behind the rate
  --api-key KEY    sent as x-api-key (default: $EVENTFLOW_API_KEY)
  --invalid F      share of deliberately invalid events, 0..1 (default 0): half refused with 400,
                   half accepted and dead-lettered by the consumer
  --sample N       accepted events to follow to their outcome through GET /events/{id} (default 100)
  --timeout-s N    how long to wait after the last send for the backlog to drain (default 60)
  --seed N         PRNG seed, to repeat a run exactly (default: random, printed)
  -h, --help       show this help

Start the server first (\`npm start\`). Exit status: 0 when the backlog drained, 1 when the server was unreachable
or the backlog had not drained within --timeout-s, 2 on bad arguments. Refused events do not fail the run.`;

/** The API's limit (MAX_BATCH_EVENTS in lambdas/ingest/app.ts). */
const MAX_BATCH = 100;
const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 500;

interface LoadTestOptions {
  readonly events: number;
  readonly rate: number;
  readonly baseUrl: string;
  readonly batch: number | null;
  readonly concurrency: number;
  readonly apiKey: string | undefined;
  readonly invalidFraction: number;
  readonly sample: number;
  readonly timeoutMs: number;
  readonly seed: number;
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
  if (raw.trim() === '' || !Number.isFinite(value) || !check(value))
    throw new UsageError(`--${flag} must be ${rule}, got "${raw}"`);
  return value;
}

const isPositiveInteger = (n: number) => Number.isInteger(n) && n >= 1;

function parseOptions(argv: readonly string[]): LoadTestOptions | 'help' {
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
    events: parseNumber('events', values.events, 1000, isPositiveInteger, 'a positive integer'),
    rate: parseNumber('rate', values.rate, 100, (n) => n > 0, 'a positive number (events per second)'),
    // Keep any path (an API Gateway stage such as /prod) and append the routes to it.
    baseUrl: url.href.replace(/\/+$/, ''),
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
      64,
      (n) => isPositiveInteger(n) && n <= 1000,
      'an integer from 1 to 1000',
    ),
    apiKey: values['api-key'] ?? process.env.EVENTFLOW_API_KEY,
    invalidFraction: parseNumber('invalid', values.invalid, 0, (n) => n >= 0 && n <= 1, 'a fraction between 0 and 1'),
    sample: parseNumber('sample', values.sample, 100, (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
    timeoutMs:
      parseNumber('timeout-s', values['timeout-s'], 60, (n) => n > 0 && n <= 86_400, 'a number of seconds up to 86400') * 1000,
    seed: parseNumber('seed', values.seed, Math.floor(Math.random() * 2 ** 31), Number.isSafeInteger, 'an integer'),
  };
}

function parseCli(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      events: { type: 'string' },
      rate: { type: 'string' },
      url: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      'api-key': { type: 'string' },
      invalid: { type: 'string' },
      sample: { type: 'string' },
      'timeout-s': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

/** Codes that mean "there is no server there", as opposed to a server misbehaving. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function networkCode(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'TIMEOUT';
  // Node's fetch (undici) wraps the socket error: TypeError('fetch failed', { cause: { code } }).
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } }).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}

/** A reply, or `network` set when no HTTP response arrived. The body is parsed JSON when it is JSON. */
interface Reply {
  readonly status: number | null;
  readonly network: string | null;
  readonly body: unknown;
  readonly latencyMs: number;
}

async function request(options: LoadTestOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'eventflow-load-test' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const started = performance.now();
  try {
    const response = await fetch(`${options.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // Read the whole body so the connection goes back to the pool; the latency includes it.
    const text = await response.text();
    const latencyMs = performance.now() - started;
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a proxy's error page): keep the text
    }
    return { status: response.status, network: null, body: parsed, latencyMs };
  } catch (error) {
    return { status: null, network: networkCode(error), body: null, latencyMs: performance.now() - started };
  }
}

function unreachableMessage(options: LoadTestOptions, code: string): string {
  if (code === 'ECONNREFUSED') {
    return `Nothing is listening at ${options.baseUrl} (connection refused). Start the server with \`npm start\` (in another terminal), or pass --url.`;
  }
  return `Cannot reach ${options.baseUrl} (${code}). Check --url, or start the server with \`npm start\`.`;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

interface SendTally {
  sent: number;
  accepted: number;
  rejected: number;
  serverFailed: number;
  lost: number;
  readonly statuses: Map<number, number>;
  readonly networkErrors: Map<string, number>;
  readonly latencies: number[];
  readonly acceptedIds: string[];
  readonly generated: Record<EventKind, number>;
  unreachable: string | null;
}

/** Event ids the server accepted in a reply: the single route answers `{event_id}`, the batch route `{results: [...]}`. */
function acceptedIds(reply: Reply, isBatch: boolean): string[] {
  if (reply.status === null || reply.status >= 300 || typeof reply.body !== 'object' || reply.body === null) return [];
  if (!isBatch) {
    const id = (reply.body as { event_id?: unknown }).event_id;
    return typeof id === 'string' ? [id] : [];
  }
  const results = (reply.body as { results?: unknown }).results;
  if (!Array.isArray(results)) return [];
  return results.flatMap((result) => {
    const { status, event_id: id } = (result ?? {}) as { status?: unknown; event_id?: unknown };
    return status === 'accepted' && typeof id === 'string' ? [id] : [];
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Progress on stderr, at most every two seconds so logs stay short. */
function throttled(): (line: () => string, force?: boolean) => void {
  let last = 0;
  return (line, force = false) => {
    const now = performance.now();
    if (!force && now - last < 2000) return;
    last = now;
    process.stderr.write(`${line()}\n`);
  };
}

async function send(options: LoadTestOptions): Promise<{ tally: SendTally; firstSendAt: number; sendMs: number }> {
  const generator = createEventGenerator({ seed: options.seed, invalidFraction: options.invalidFraction });
  const perRequest = options.batch ?? 1;
  const isBatch = options.batch !== null;
  const tally: SendTally = {
    sent: 0,
    accepted: 0,
    rejected: 0,
    serverFailed: 0,
    lost: 0,
    statuses: new Map(),
    networkErrors: new Map(),
    latencies: [],
    acceptedIds: [],
    generated: { valid: 0, schema_invalid: 0, rule_invalid: 0 },
    unreachable: null,
  };
  const report = throttled();
  const inFlight = new Set<Promise<void>>();
  const begin = performance.now();
  for (let offset = 0; offset < options.events && tally.unreachable === null; offset += perRequest) {
    // Paced by events, not requests: request k starts when its first event is due at --rate.
    const dueMs = (offset / options.rate) * 1000 - (performance.now() - begin);
    if (dueMs > 0) await sleep(dueMs);
    while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
    if (tally.unreachable !== null) break;
    const events = generator.take(Math.min(perRequest, options.events - offset));
    for (const event of events) tally.generated[event.kind] += 1;
    const bodies = events.map((event) => event.body);
    const pending = (async () => {
      const reply = isBatch
        ? await request(options, 'POST', '/events/batch', { events: bodies })
        : await request(options, 'POST', '/events', bodies[0]);
      tally.sent += bodies.length;
      if (reply.status === null) {
        const code = reply.network ?? 'unknown';
        tally.networkErrors.set(code, (tally.networkErrors.get(code) ?? 0) + 1);
        tally.lost += bodies.length;
        if (UNREACHABLE_CODES.has(code)) tally.unreachable ??= code;
        return;
      }
      tally.latencies.push(reply.latencyMs);
      tally.statuses.set(reply.status, (tally.statuses.get(reply.status) ?? 0) + 1);
      if (reply.status >= 500) {
        tally.serverFailed += bodies.length;
        return;
      }
      const ids = acceptedIds(reply, isBatch);
      tally.acceptedIds.push(...ids);
      tally.accepted += ids.length;
      tally.rejected += bodies.length - ids.length;
    })().finally(() => {
      inFlight.delete(pending);
      report(
        () =>
          `sent ${tally.sent}/${options.events}  accepted ${tally.accepted}  rejected ${tally.rejected}  errors ${tally.serverFailed + tally.lost}`,
      );
    });
    inFlight.add(pending);
  }
  await Promise.all(inFlight);
  return { tally, firstSendAt: begin, sendMs: performance.now() - begin };
}

// ---------------------------------------------------------------------------------------------------------------
// Waiting for the backlog

type Outcome = 'processed' | 'failed' | 'accepted' | 'unknown';

interface Followed {
  outcome: Outcome;
  /** Server-side: received_at → processed_at / failed_at, in ms. */
  pipelineMs: number | null;
}

interface WaitResult {
  readonly drained: boolean;
  readonly drainedAt: number | null;
  readonly lastQueueDepth: number | null;
  readonly summaryProblem: string | null;
  readonly sample: Map<string, Followed>;
}

/** Every k-th accepted id, so the sample spans the whole run rather than its start. */
function pickSample(ids: readonly string[], size: number): string[] {
  if (size >= ids.length) return [...ids];
  if (size === 0) return [];
  const step = ids.length / size;
  return Array.from({ length: size }, (_, i) => ids[Math.floor(i * step)] as string);
}

async function follow(options: LoadTestOptions, id: string, into: Followed): Promise<void> {
  const reply = await request(options, 'GET', `/events/${id}`);
  if (reply.status !== 200 || typeof reply.body !== 'object' || reply.body === null) return; // 404: still in a fallback queue
  const status = reply.body as { status?: unknown; received_at?: unknown; processed_at?: unknown; failed_at?: unknown };
  if (status.status !== 'processed' && status.status !== 'failed') {
    into.outcome = 'accepted';
    return;
  }
  into.outcome = status.status;
  const end = status.status === 'processed' ? status.processed_at : status.failed_at;
  if (typeof status.received_at === 'string' && typeof end === 'string') {
    into.pipelineMs = Date.parse(end) - Date.parse(status.received_at);
  }
}

/** Polls until the queue is empty and every sampled event has an outcome, or the deadline passes. */
async function waitForDrain(options: LoadTestOptions, sampleIds: readonly string[]): Promise<WaitResult> {
  const sample = new Map<string, Followed>(sampleIds.map((id) => [id, { outcome: 'unknown', pipelineMs: null }]));
  const deadline = performance.now() + options.timeoutMs;
  const report = throttled();
  let lastQueueDepth: number | null = null;
  let summaryProblem: string | null = null;
  for (;;) {
    const summary = await request(options, 'GET', '/metrics/summary');
    const depth = (summary.body as { queue_depth?: unknown } | null)?.queue_depth;
    if (summary.status === 200 && typeof depth === 'number') {
      lastQueueDepth = depth;
      summaryProblem = null;
    } else {
      summaryProblem = summary.status === null ? (summary.network ?? 'no reply') : `HTTP ${summary.status}`;
    }
    const open = [...sample].filter(([, followed]) => followed.outcome !== 'processed' && followed.outcome !== 'failed');
    // A few lookups at a time: the server is busy draining, the poll must not become the load.
    for (let i = 0; i < open.length; i += 8) {
      await Promise.all(open.slice(i, i + 8).map(([id, followed]) => follow(options, id, followed)));
    }
    const resolved = [...sample.values()].filter((f) => f.outcome === 'processed' || f.outcome === 'failed').length;
    if (lastQueueDepth === 0 && summaryProblem === null && resolved === sample.size) {
      return { drained: true, drainedAt: performance.now(), lastQueueDepth, summaryProblem, sample };
    }
    if (performance.now() >= deadline) return { drained: false, drainedAt: null, lastQueueDepth, summaryProblem, sample };
    report(
      () => `waiting: queue_depth ${lastQueueDepth ?? summaryProblem ?? '?'}, sample ${resolved}/${sample.size} with an outcome`,
    );
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------------------------

function render(options: LoadTestOptions, sent: Awaited<ReturnType<typeof send>>, wait: WaitResult | null): string {
  const { tally, firstSendAt, sendMs } = sent;
  const route = options.batch === null ? '/events' : `/events/batch (${options.batch} per request)`;
  const api = summarize(tally.latencies);
  const rows: Array<[string, string]> = [
    ['target', `${options.baseUrl}${route}`],
    [
      'offered',
      `${options.events} events at ${options.rate} ev/s, seed ${options.seed}${options.invalidFraction > 0 ? `, ${options.invalidFraction} invalid` : ''}`,
    ],
    ['sent', `${tally.sent} events in ${(sendMs / 1000).toFixed(1)} s (${formatRate(perSecond(tally.sent, sendMs))} achieved)`],
    ['accepted', `${tally.accepted} events`],
    ['rejected', `${tally.rejected} events (refused by the API)`],
    ['errors', `${tally.serverFailed} events in 5xx replies, ${tally.lost} events without a reply`],
  ];
  for (const [status, count] of [...tally.statuses].sort(([a], [b]) => a - b))
    rows.push([`  HTTP ${status}`, `${count} requests`]);
  for (const [code, count] of tally.networkErrors) rows.push([`  ${code}`, `${count} requests`]);
  rows.push(['API latency', `${formatLatency(api)}  (per request, ${api.count} replies)`]);
  if (wait) {
    if (wait.drained && wait.drainedAt !== null) {
      const completionMs = wait.drainedAt - firstSendAt;
      rows.push(
        [
          'completed',
          `${(completionMs / 1000).toFixed(1)} s from the first send to an empty queue, polled every ${POLL_MS / 1000} s (${((wait.drainedAt - firstSendAt - sendMs) / 1000).toFixed(1)} s after the last send)`,
        ],
        ['throughput', `${formatRate(perSecond(tally.accepted, completionMs))} (accepted events / completion time)`],
      );
    } else {
      const depth = wait.summaryProblem
        ? `GET /metrics/summary failed (${wait.summaryProblem})`
        : `queue_depth still ${wait.lastQueueDepth ?? '?'}`;
      rows.push(['completed', `NO: ${depth} ${options.timeoutMs / 1000} s after the last send`]);
    }
    const followed = [...wait.sample.values()];
    const count = (outcome: Outcome) => followed.filter((f) => f.outcome === outcome).length;
    rows.push([
      'sample',
      `${followed.length} of ${tally.accepted} accepted: processed ${count('processed')}, failed ${count('failed')}, still accepted ${count('accepted')}, not found ${count('unknown')}`,
    ]);
    const pipeline = summarize(followed.flatMap((f) => (f.pipelineMs === null ? [] : [f.pipelineMs])));
    if (pipeline.count > 0) {
      rows.push([
        'pipeline latency',
        `${formatLatency(pipeline)}  (sample, received_at → processed_at/failed_at on the server's clocks)`,
      ]);
    }
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

async function main(): Promise<number> {
  let options: LoadTestOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Fail in one line before sending anything when there is no server.
  const health = await request(options, 'GET', '/health');
  if (health.status === null) {
    process.stderr.write(`${unreachableMessage(options, health.network ?? 'no reply')}\n`);
    return 1;
  }
  if (health.status !== 200) {
    process.stderr.write(
      `warning: GET /health answered ${health.status}; the run goes on, expect errors: ${JSON.stringify(health.body).slice(0, 300)}\n`,
    );
  }
  process.stderr.write(`sending ${options.events} events to ${options.baseUrl} at ${options.rate} ev/s (seed ${options.seed})\n`);
  const sent = await send(options);
  if (sent.tally.unreachable !== null && sent.tally.statuses.size === 0) {
    process.stderr.write(`${unreachableMessage(options, sent.tally.unreachable)}\n`);
    return 1;
  }
  let wait: WaitResult | null = null;
  if (sent.tally.unreachable === null) {
    process.stderr.write(`sent; waiting up to ${options.timeoutMs / 1000} s for the backlog to drain\n`);
    wait = await waitForDrain(options, pickSample(sent.tally.acceptedIds, options.sample));
  }
  process.stdout.write(`${render(options, sent, wait)}\n`);
  if (sent.tally.unreachable !== null) {
    process.stderr.write(`${unreachableMessage(options, sent.tally.unreachable)}\n`);
    return 1;
  }
  return wait?.drained ? 0 : 1;
}

main().then(
  function exitWith(code) {
    process.exitCode = code;
  },
  function crash(error: unknown) {
    process.stderr.write(`load test failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
