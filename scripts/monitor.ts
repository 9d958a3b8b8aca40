// `npm run monitor`: polls a running EventFlow's GET /health and GET /metrics/summary and prints one line per interval.
// Read-only: must never send anything but those two GETs, nor exit non-zero in watch mode for a bad reading (only --once judges).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  apiKeyOrEnv,
  type FlagValues,
  isPositiveInteger,
  parseBaseUrl,
  parseNumber,
  readCommandLine,
  runMain,
} from './lib/cli.ts';
import { isUnreachable, requestJson, unreachableMessage } from './lib/http-client.ts';

const USAGE = `Usage: npm run monitor -- [options]

  --url URL        API base URL (default http://127.0.0.1:3000)
  --interval S     seconds between readings (default 2)
  --once           print one reading and exit: 0 when healthy, 1 when degraded or unreachable
  --api-key KEY    sent as x-api-key (a deployed /metrics/summary needs it; default: $EVENTFLOW_API_KEY)
  --timeout-ms N   per-request timeout (default 5000)
  -h, --help       show this help

Each line: time, overall status, database and stream health with probe latency, then the backlog:
stream length (XLEN), lag (never delivered), pending (delivered, not acknowledged), queue_depth (lag + pending),
the oldest pending entry's age, and the consumers: live (read within the last 2 minutes) of all the group knows.`;

interface MonitorOptions {
  readonly baseUrl: string;
  readonly intervalMs: number;
  readonly once: boolean;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
}

const FLAGS = {
  url: { type: 'string' },
  interval: { type: 'string' },
  once: { type: 'boolean' },
  'api-key': { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const;

function toOptions(values: FlagValues<typeof FLAGS>): MonitorOptions {
  const interval = parseNumber(
    'interval',
    values.interval,
    2,
    (n) => n >= 0.1 && n <= 3600,
    'a number of seconds from 0.1 to 3600',
  );
  return {
    baseUrl: parseBaseUrl(values.url),
    intervalMs: interval * 1000,
    once: values.once === true,
    apiKey: apiKeyOrEnv(values['api-key']),
    timeoutMs: parseNumber('timeout-ms', values['timeout-ms'], 5000, isPositiveInteger, 'a positive integer'),
  };
}

interface DependencyHealth {
  readonly status?: string;
  readonly latency_ms?: number;
  readonly error?: string;
}

interface HealthBody {
  readonly status?: string;
  readonly dependencies?: { readonly database?: DependencyHealth; readonly stream?: DependencyHealth };
}

interface SummaryBody {
  readonly stream_length?: number;
  readonly lag?: number | null;
  readonly pending?: number;
  readonly queue_depth?: number;
  readonly oldest_pending_age_seconds?: number | null;
  readonly consumers_live?: number;
  readonly consumers_total?: number;
}

type Fetched<T> =
  | { readonly ok: true; readonly status: number; readonly body: T }
  | { readonly ok: false; readonly status: number | null; readonly problem: string };

/**
 * GETs a JSON route. /health answers 503 with a body when degraded, so any JSON body is kept whatever the status;
 * `ok` is false only when there is no usable body.
 */
async function getJson<T>(options: MonitorOptions, path: string): Promise<Fetched<T>> {
  const reply = await requestJson(`${options.baseUrl}${path}`, {
    apiKey: options.apiKey,
    userAgent: 'eventflow-monitor',
    timeoutMs: options.timeoutMs,
  });
  if (reply.status === null) return { ok: false, status: null, problem: reply.network };
  if (!reply.json) return { ok: false, status: reply.status, problem: `HTTP ${reply.status}, not JSON` };
  return { ok: true, status: reply.status, body: reply.body as T };
}

interface Reading {
  readonly line: string;
  readonly healthy: boolean;
}

function dependency(name: string, health: DependencyHealth | undefined): string {
  if (!health) return `${name} ?`;
  // The server rounds probe latencies to whole milliseconds; print them as given.
  const latency = typeof health.latency_ms === 'number' ? ` ${health.latency_ms} ms` : '';
  if (health.status === 'up') return `${name} up${latency}`;
  return `${name} DOWN${latency}${health.error ? ` (${health.error})` : ''}`;
}

function field(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : String(value);
}

function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;
}

async function read(options: MonitorOptions): Promise<Reading> {
  // Milliseconds only when readings come faster than one a second, so lines stay distinct.
  const time = `${new Date().toISOString().slice(0, options.intervalMs < 1000 ? 23 : 19)}Z`;
  const [health, summary] = await Promise.all([
    getJson<HealthBody>(options, '/health'),
    getJson<SummaryBody>(options, '/metrics/summary'),
  ]);
  if (!health.ok && health.status === null) {
    // A refused connection means no server; a timeout means a server too busy or stuck to answer.
    const label = isUnreachable(health.problem) ? 'unreachable' : 'NO REPLY';
    return { line: `${time}  ${label}  ${unreachableMessage(options.baseUrl, health.problem)}`, healthy: false };
  }
  const parts = [time];
  let healthy = false;
  if (health.ok) {
    healthy = health.status === 200 && health.body.status === 'ok';
    parts.push(
      healthy ? 'ok' : 'DEGRADED',
      dependency('database', health.body.dependencies?.database),
      dependency('stream', health.body.dependencies?.stream),
    );
  } else {
    parts.push('DEGRADED', `health ${health.problem}`);
  }
  if (summary.ok && summary.status === 200) {
    const s = summary.body;
    parts.push(
      `length ${field(s.stream_length)}`,
      `lag ${field(s.lag)}`,
      `pending ${field(s.pending)}`,
      `queue_depth ${field(s.queue_depth)}`,
      `oldest_pending ${age(s.oldest_pending_age_seconds)}`,
      `consumers ${field(s.consumers_live)} live of ${field(s.consumers_total)}`,
    );
  } else {
    const status = summary.status;
    const why =
      status === 401 || status === 403 ? `HTTP ${status} (pass --api-key)` : summary.ok ? `HTTP ${status}` : summary.problem;
    parts.push(`summary unavailable: ${why}`);
  }
  return { line: parts.join('  '), healthy };
}

async function main(): Promise<number> {
  const options = readCommandLine(USAGE, FLAGS, toOptions);
  if (typeof options === 'number') return options;
  if (options.once) {
    const reading = await read(options);
    process.stdout.write(`${reading.line}\n`);
    return reading.healthy ? 0 : 1;
  }
  // Nothing is in flight worth finishing: a reading is read-only, so Ctrl-C ends at once.
  process.once('SIGINT', () => process.exit(0));
  process.stderr.write(`monitoring ${options.baseUrl} every ${options.intervalMs / 1000} s (Ctrl-C stops)\n`);
  // Readings are due on a fixed grid, so a slow reply shifts one line, not every later one.
  const begin = performance.now();
  for (let tick = 0; ; tick++) {
    const reading = await read(options);
    process.stdout.write(`${reading.line}\n`);
    const dueMs = (tick + 1) * options.intervalMs - (performance.now() - begin);
    if (dueMs > 0) await sleep(dueMs);
  }
}

void runMain(main, { name: 'monitor' });
