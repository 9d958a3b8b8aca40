// Sends realistic mixed events (some deliberately invalid) to the ingest API at a steady rate and summarises the replies.
// Must never exceed its concurrency bound nor exit non-zero for refused events: only an unreachable server fails the run.
import { type FlagValues, isPositiveInteger, parseNumber, readCommandLine, runMain } from './lib/cli.ts';
import type { GeneratedEvent } from './lib/event-generator.ts';
import {
  SEND_FLAGS,
  type SendOptions,
  type SendRun,
  type SendTally,
  sendEvents,
  tallyRows,
  toSendOptions,
} from './lib/event-sender.ts';
import { type HttpReply, unreachableMessage } from './lib/http-client.ts';
import { formatLatency, renderLabelled, summarize } from './lib/stats.ts';

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

interface ProducerConfig extends SendOptions {
  readonly count: number;
  readonly timeoutMs: number;
}

const FLAGS = { ...SEND_FLAGS, count: { type: 'string' }, timeout: { type: 'string' } } as const;

function toConfig(values: FlagValues<typeof FLAGS>): ProducerConfig {
  return {
    count: parseNumber('count', values.count, 100, isPositiveInteger, 'a positive integer'),
    ...toSendOptions(values, { rate: 50, invalidFraction: 0.1, concurrency: 16 }),
    timeoutMs: parseNumber('timeout', values.timeout, 10_000, isPositiveInteger, 'a positive integer (milliseconds)'),
  };
}

/**
 * How many events of a 2xx reply the server took. A single event is one. A batch reply (202, or 207
 * when some events conflict) says `{accepted, rejected, results}`; per-event `results[].status` and
 * "all of it" are fallbacks so the producer still counts against another server's reply.
 */
function acceptedCount(body: unknown, sent: number, isBatch: boolean): number {
  if (!isBatch || typeof body !== 'object' || body === null) return sent;
  const reply = body as { accepted?: unknown; duplicates?: unknown; results?: unknown };
  if (typeof reply.accepted === 'number') return reply.accepted + (typeof reply.duplicates === 'number' ? reply.duplicates : 0);
  if (Array.isArray(reply.accepted)) return reply.accepted.length;
  if (Array.isArray(reply.results)) {
    return reply.results.filter((r) => ['accepted', 'duplicate'].includes(String((r as { status?: unknown } | null)?.status)))
      .length;
  }
  return sent;
}

/** A request whose every event has a schema mistake must get a 4xx (a batch stores its valid items); otherwise a 2xx. */
function expectedStatusClass(events: readonly GeneratedEvent[]): 2 | 4 {
  return events.every((event) => event.kind === 'schema_invalid') ? 4 : 2;
}

function describeShipment(events: readonly GeneratedEvent[]): string {
  if (events.length === 1 && events[0]) return `${events[0].kind}${events[0].flaw ? ` (${events[0].flaw})` : ''}`;
  const flaws = events.flatMap((event) => (event.kind === 'schema_invalid' && event.flaw ? [event.flaw] : []));
  return `batch of ${events.length}${flaws.length > 0 ? ` with schema mistakes (${flaws.join(', ')})` : ' without schema mistakes'}`;
}

/** Requests whose reply contradicts what they carried (e.g. a schema mistake answered 202). */
function surprise(reply: HttpReply, events: readonly GeneratedEvent[]): string | null {
  // 5xx, 409 (event_id reused with other content) and 429 (throttled) say nothing about the contract.
  if (reply.status === null || reply.status >= 500 || reply.status === 409 || reply.status === 429) return null;
  if (Math.floor(reply.status / 100) === expectedStatusClass(events)) return null;
  return `${describeShipment(events)} got ${reply.status}: ${JSON.stringify(reply.body).slice(0, 200)}`;
}

/** Progress on stderr: one rewritten line on a terminal, otherwise a line per 10% so logs stay short. */
function createProgress(total: number) {
  const isTty = process.stderr.isTTY === true;
  const started = performance.now();
  let lastDecile = 0;
  let lastDraw = 0;
  function line(tally: SendTally): string {
    const seconds = (performance.now() - started) / 1000;
    const percent = Math.floor((tally.sent / total) * 100);
    const rate = seconds > 0 ? (tally.sent / seconds).toFixed(1) : '0.0';
    return `sent ${tally.sent}/${total} (${percent}%)  accepted ${tally.accepted}  rejected ${tally.rejected}  errors ${tally.serverFailed + tally.lost}  ${rate} events/s`;
  }
  function update(tally: SendTally): void {
    if (isTty) {
      const now = performance.now();
      if (now - lastDraw < 100 && tally.sent < total) return; // redraw at most 10 times a second
      lastDraw = now;
      process.stderr.write(`\r${line(tally)}\u001b[K`);
      return;
    }
    const decile = Math.floor((tally.sent / total) * 10);
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

async function produce(config: ProducerConfig): Promise<{ run: SendRun; surprises: string[] }> {
  const isBatch = config.batch !== null;
  const surprises: string[] = [];
  const progress = createProgress(config.count);
  const run = await sendEvents(config, config.count, {
    userAgent: 'eventflow-producer',
    timeoutMs: config.timeoutMs,
    accepted: (reply, events) =>
      reply.status >= 200 && reply.status < 300 ? acceptedCount(reply.body, events.length, isBatch) : 0,
    settled(reply, events, tally) {
      const unexpected = surprise(reply, events);
      if (unexpected !== null) surprises.push(unexpected);
      progress.update(tally);
    },
  });
  progress.finish();
  return { run, surprises };
}

function summary(config: ProducerConfig, { tally, elapsedMs }: SendRun, surprises: readonly string[]): string {
  const seconds = elapsedMs / 1000;
  const route = config.batch === null ? '/events' : `/events/batch (${config.batch} per request)`;
  const rows: Array<[string, string]> = [
    ['target', `${config.baseUrl}${route}`],
    [
      'sent',
      `${tally.sent} events in ${seconds.toFixed(1)} s (${(tally.sent / Math.max(seconds, 0.001)).toFixed(1)} events/s), seed ${config.seed}`,
    ],
    [
      'generated',
      `valid ${tally.generated.valid}, schema-invalid ${tally.generated.schema_invalid} (expect 400), rule-invalid ${tally.generated.rule_invalid} (expect 202, then dead-lettered)`,
    ],
    ...tallyRows(tally),
    ['latency', formatLatency(summarize(tally.latencies))],
  ];
  if (surprises.length > 0) {
    rows.push(['unexpected', `${surprises.length} replies contradict the event's kind, e.g.:`]);
    for (const line of surprises.slice(0, 3)) rows.push(['', line]);
  }
  return renderLabelled(rows);
}

async function main(): Promise<number> {
  const config = readCommandLine(USAGE, FLAGS, toConfig);
  if (typeof config === 'number') return config;
  const { run, surprises } = await produce(config);
  const { unreachable } = run.tally;
  // With no reply at all the table would be all zeros: the one-line reason says more.
  if (unreachable === null || run.tally.statuses.size > 0) process.stdout.write(`${summary(config, run, surprises)}\n`);
  if (unreachable !== null) {
    process.stderr.write(`${unreachableMessage(config.baseUrl, unreachable)}\n`);
    return 1;
  }
  return 0;
}

void runMain(main, { name: 'producer' });
