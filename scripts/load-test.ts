// `npm run load-test`: offers generated events to a running EventFlow at a fixed rate, waits for the backlog to drain,
// and reports API latency, completion time and throughput. Must never judge figures (only "did it drain") nor write
// anything but the events it sends; it reads GET /metrics/summary and GET /events/{id} to follow them.
import { setTimeout as sleep } from 'node:timers/promises';
import { type FlagValues, isPositiveInteger, parseNumber, readCommandLine, runMain } from './lib/cli.ts';
import { SEND_FLAGS, type SendOptions, type SendRun, sendEvents, tallyRows, toSendOptions } from './lib/event-sender.ts';
import { type HttpReply, requestJson, unreachableMessage } from './lib/http-client.ts';
import { formatLatency, formatRate, perSecond, renderLabelled, summarize } from './lib/stats.ts';

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

const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 500;

interface LoadTestOptions extends SendOptions {
  readonly events: number;
  readonly sample: number;
  readonly timeoutMs: number;
}

const FLAGS = {
  ...SEND_FLAGS,
  events: { type: 'string' },
  sample: { type: 'string' },
  'timeout-s': { type: 'string' },
} as const;

function toOptions(values: FlagValues<typeof FLAGS>): LoadTestOptions {
  return {
    events: parseNumber('events', values.events, 1000, isPositiveInteger, 'a positive integer'),
    ...toSendOptions(values, { rate: 100, invalidFraction: 0, concurrency: 64 }),
    sample: parseNumber('sample', values.sample, 100, (n) => Number.isInteger(n) && n >= 0, 'a whole number'),
    timeoutMs:
      parseNumber('timeout-s', values['timeout-s'], 60, (n) => n > 0 && n <= 86_400, 'a number of seconds up to 86400') * 1000,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

function request(options: LoadTestOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpReply> {
  return requestJson(`${options.baseUrl}${path}`, {
    method,
    body,
    apiKey: options.apiKey,
    userAgent: 'eventflow-load-test',
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

/** Event ids the server accepted in a reply: the single route answers `{event_id}`, the batch route `{results: [...]}`. */
function acceptedIds(reply: HttpReply, isBatch: boolean): string[] {
  if (reply.status === null || reply.status >= 300 || typeof reply.body !== 'object' || reply.body === null) return [];
  // 207: a batch whose valid items were stored while others were refused.
  if (!isBatch) {
    const id = (reply.body as { event_id?: unknown }).event_id;
    return typeof id === 'string' ? [id] : [];
  }
  const results = (reply.body as { results?: unknown }).results;
  if (!Array.isArray(results)) return [];
  return results.flatMap((result) => {
    const { status, event_id: id } = (result ?? {}) as { status?: unknown; event_id?: unknown };
    return (status === 'accepted' || status === 'duplicate') && typeof id === 'string' ? [id] : [];
  });
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

async function send(options: LoadTestOptions): Promise<{ run: SendRun; acceptedIds: string[] }> {
  const isBatch = options.batch !== null;
  const ids: string[] = [];
  const report = throttled();
  const run = await sendEvents(options, options.events, {
    userAgent: 'eventflow-load-test',
    timeoutMs: REQUEST_TIMEOUT_MS,
    accepted(reply) {
      const accepted = acceptedIds(reply, isBatch);
      ids.push(...accepted);
      return accepted.length;
    },
    settled(_reply, _events, tally) {
      report(
        () =>
          `sent ${tally.sent}/${options.events}  accepted ${tally.accepted}  rejected ${tally.rejected}  errors ${tally.serverFailed + tally.lost}`,
      );
    },
  });
  return { run, acceptedIds: ids };
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
      summaryProblem = summary.status === null ? summary.network : `HTTP ${summary.status}`;
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

function render(
  options: LoadTestOptions,
  { tally, startedAt: firstSendAt, elapsedMs: sendMs }: SendRun,
  wait: WaitResult | null,
): string {
  const route = options.batch === null ? '/events' : `/events/batch (${options.batch} per request)`;
  const api = summarize(tally.latencies);
  const rows: Array<[string, string]> = [
    ['target', `${options.baseUrl}${route}`],
    [
      'offered',
      `${options.events} events at ${options.rate} ev/s, seed ${options.seed}${options.invalidFraction > 0 ? `, ${options.invalidFraction} invalid` : ''}`,
    ],
    ['sent', `${tally.sent} events in ${(sendMs / 1000).toFixed(1)} s (${formatRate(perSecond(tally.sent, sendMs))} achieved)`],
    ...tallyRows(tally),
  ];
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
  return renderLabelled(rows);
}

async function main(): Promise<number> {
  const options = readCommandLine(USAGE, FLAGS, toOptions);
  if (typeof options === 'number') return options;
  // Fail in one line before sending anything when there is no server.
  const health = await request(options, 'GET', '/health');
  if (health.status === null) {
    process.stderr.write(`${unreachableMessage(options.baseUrl, health.network)}\n`);
    return 1;
  }
  if (health.status !== 200) {
    process.stderr.write(
      `warning: GET /health answered ${health.status}; the run goes on, expect errors: ${JSON.stringify(health.body).slice(0, 300)}\n`,
    );
  }
  process.stderr.write(`sending ${options.events} events to ${options.baseUrl} at ${options.rate} ev/s (seed ${options.seed})\n`);
  const sent = await send(options);
  const { unreachable } = sent.run.tally;
  if (unreachable !== null && sent.run.tally.statuses.size === 0) {
    process.stderr.write(`${unreachableMessage(options.baseUrl, unreachable)}\n`);
    return 1;
  }
  let wait: WaitResult | null = null;
  if (unreachable === null) {
    process.stderr.write(`sent; waiting up to ${options.timeoutMs / 1000} s for the backlog to drain\n`);
    wait = await waitForDrain(options, pickSample(sent.acceptedIds, options.sample));
  }
  process.stdout.write(`${render(options, sent.run, wait)}\n`);
  if (unreachable !== null) {
    process.stderr.write(`${unreachableMessage(options.baseUrl, unreachable)}\n`);
    return 1;
  }
  return wait?.drained ? 0 : 1;
}

void runMain(main, { name: 'load test' });
