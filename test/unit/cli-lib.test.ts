// Specification of the operator scripts' shared plumbing: cli.ts, http-client.ts, event-sender.ts (and the report layout).
// Must never reach beyond 127.0.0.1 nor leave the exit code, stdout/stderr spies or a server behind after a test.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_BASE_URL,
  describeError,
  integerBetween,
  isPositiveInteger,
  parseBaseUrl,
  parseCommandLine,
  parseNumber,
  readCommandLine,
  runMain,
  UsageError,
} from '../../scripts/lib/cli.ts';
import { SEND_FLAGS, sendEvents, tallyRows, toSendOptions } from '../../scripts/lib/event-sender.ts';
import {
  isUnreachable,
  networkErrorCode,
  requestJson,
  UNREACHABLE_CODES,
  unreachableMessage,
} from '../../scripts/lib/http-client.ts';
import { renderLabelled } from '../../scripts/lib/stats.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Captures what a block writes to stdout and stderr. */
function captureOutput() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  return { stdout: () => out.join(''), stderr: () => err.join('') };
}

const FLAGS = { count: { type: 'string' }, once: { type: 'boolean' } } as const;

describe('parseCommandLine', () => {
  const interpret = (values: { count?: string; once?: boolean }) => ({
    count: parseNumber('count', values.count, 10, isPositiveInteger, 'a positive integer'),
    once: values.once === true,
  });

  it('hands the declared flags to interpret', () => {
    expect(parseCommandLine(['--count', '3', '--once'], FLAGS, interpret)).toEqual({ count: 3, once: true });
    expect(parseCommandLine([], FLAGS, interpret)).toEqual({ count: 10, once: false });
  });

  it("answers 'help' for -h or --help, whatever else is given", () => {
    expect(parseCommandLine(['-h'], FLAGS, interpret)).toBe('help');
    expect(parseCommandLine(['--count', 'x', '--help'], FLAGS, interpret)).toBe('help');
  });

  it('refuses unknown flags, missing values and positional arguments with a UsageError naming them', () => {
    expect(() => parseCommandLine(['--bogus'], FLAGS, interpret)).toThrow(UsageError);
    expect(() => parseCommandLine(['--bogus'], FLAGS, interpret)).toThrow(/--bogus/);
    expect(() => parseCommandLine(['--count'], FLAGS, interpret)).toThrow(UsageError);
    expect(() => parseCommandLine(['extra'], FLAGS, interpret)).toThrow('unexpected argument "extra"');
  });

  it("passes interpret's UsageError on", () => {
    expect(() => parseCommandLine(['--count', '0'], FLAGS, interpret)).toThrow('--count must be a positive integer, got "0"');
  });
});

describe('readCommandLine', () => {
  const USAGE = 'Usage: npm run thing -- [options]';
  const interpret = (values: { count?: string }) => ({
    count: parseNumber('count', values.count, 1, isPositiveInteger, 'a positive integer'),
  });

  it('returns the options and prints nothing', () => {
    const output = captureOutput();
    expect(readCommandLine(USAGE, FLAGS, interpret, ['--count', '4'])).toEqual({ count: 4 });
    expect(output.stdout() + output.stderr()).toBe('');
  });

  it('prints the usage on stdout for --help and returns exit code 0', () => {
    const output = captureOutput();
    expect(readCommandLine(USAGE, FLAGS, interpret, ['--help'])).toBe(0);
    expect(output.stdout()).toBe(`${USAGE}\n`);
    expect(output.stderr()).toBe('');
  });

  it('prints the error and the usage on stderr for a bad command line and returns exit code 2', () => {
    const output = captureOutput();
    expect(readCommandLine(USAGE, FLAGS, interpret, ['--count', 'many'])).toBe(2);
    expect(output.stderr()).toBe(`error: --count must be a positive integer, got "many"\n\n${USAGE}\n`);
    expect(output.stdout()).toBe('');
  });

  it('lets anything but a UsageError through', () => {
    captureOutput();
    const broken = () => {
      throw new TypeError('a bug');
    };
    expect(() => readCommandLine(USAGE, FLAGS, broken, [])).toThrow(TypeError);
  });
});

describe('parseNumber', () => {
  const positive = (raw: string | undefined) => parseNumber('rate', raw, 50, (n) => n > 0, 'a positive number');

  it('gives the fallback when the flag is absent, else the number', () => {
    expect(positive(undefined)).toBe(50);
    expect(positive('2.5')).toBe(2.5);
    expect(positive('1e3')).toBe(1000);
  });

  it.each(['', '  ', 'abc', 'Infinity', 'NaN', '0', '-1'])('refuses %j, quoting it', (raw) => {
    expect(() => positive(raw)).toThrow(UsageError);
    expect(() => positive(raw)).toThrow(`--rate must be a positive number, got "${raw}"`);
  });

  it('has integer checks for the common rules', () => {
    expect([0, 1, 2.5, 7].map(isPositiveInteger)).toEqual([false, true, false, true]);
    const oneToHundred = integerBetween(1, 100);
    expect([0, 1, 50.5, 100, 101].map(oneToHundred)).toEqual([false, true, false, true, false]);
  });
});

describe('parseBaseUrl', () => {
  it('defaults to the local server', () => {
    expect(parseBaseUrl(undefined)).toBe(DEFAULT_BASE_URL);
    expect(DEFAULT_BASE_URL).toBe('http://127.0.0.1:3000');
  });

  it('keeps a path (an API Gateway stage) without its trailing slashes', () => {
    expect(parseBaseUrl('https://abc.execute-api.us-east-1.amazonaws.com/prod/')).toBe(
      'https://abc.execute-api.us-east-1.amazonaws.com/prod',
    );
    expect(parseBaseUrl('http://localhost:3000/')).toBe('http://localhost:3000');
  });

  it('refuses what is not an http(s) URL', () => {
    expect(() => parseBaseUrl('localhost:3000x')).toThrow(UsageError);
    expect(() => parseBaseUrl('not a url')).toThrow('--url must be an http(s) URL, got "not a url"');
    expect(() => parseBaseUrl('ftp://example.com')).toThrow('--url must be http or https, got "ftp://example.com"');
  });
});

describe('runMain', () => {
  const exitCodeBefore = process.exitCode;
  afterEach(() => {
    process.exitCode = exitCodeBefore;
  });

  it("sets the exit code to main's result", async () => {
    await runMain(async () => 3, { name: 'thing' });
    expect(process.exitCode).toBe(3);
  });

  it('prints a crash with its stack, runs onCrash and exits 1; a failing onCrash changes nothing', async () => {
    const output = captureOutput();
    const onCrash = vi.fn(async () => {
      throw new Error('cleanup failed too');
    });
    await runMain(
      async () => {
        throw new Error('boom');
      },
      { name: 'load test', onCrash },
    );
    expect(process.exitCode).toBe(1);
    expect(output.stderr()).toMatch(/^load test failed: Error: boom\n {4}at /);
    expect(onCrash).toHaveBeenCalledOnce();
  });

  it('exits at once when asked', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    await runMain(async () => 0, { name: 'bench', exit: true });
    expect(exit).toHaveBeenCalledWith(0);
  });

  it('describes anything thrown', () => {
    expect(describeError('just a string')).toBe('just a string');
    expect(describeError(new Error('with a stack'))).toMatch(/^Error: with a stack\n/);
  });
});

describe('network error codes', () => {
  it('names a timeout or an abort TIMEOUT', () => {
    expect(networkErrorCode(new DOMException('The operation timed out.', 'TimeoutError'))).toBe('TIMEOUT');
    expect(networkErrorCode(new DOMException('aborted', 'AbortError'))).toBe('TIMEOUT');
  });

  it("takes the socket's code out of undici's wrapper, or out of the first of several attempts", () => {
    expect(networkErrorCode(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }))).toBe('ECONNREFUSED');
    expect(networkErrorCode(new TypeError('fetch failed', { cause: { errors: [{ code: 'EHOSTUNREACH' }] } }))).toBe(
      'EHOSTUNREACH',
    );
  });

  it('falls back to the message, or the string of a non-error', () => {
    expect(networkErrorCode(new TypeError('fetch failed'))).toBe('fetch failed');
    expect(networkErrorCode('odd')).toBe('odd');
    expect(networkErrorCode(null)).toBe('null');
  });

  it('calls refused, unknown and unroutable hosts unreachable, but not a timeout', () => {
    for (const code of UNREACHABLE_CODES) expect(isUnreachable(code)).toBe(true);
    expect(isUnreachable('ECONNREFUSED')).toBe(true);
    expect(isUnreachable('TIMEOUT')).toBe(false);
    expect(isUnreachable('ECONNRESET')).toBe(false);
  });

  it('says in one line how to start the server', () => {
    const refused = unreachableMessage('http://127.0.0.1:3000', 'ECONNREFUSED');
    expect(refused).toContain('Nothing is listening at http://127.0.0.1:3000 (connection refused)');
    expect(refused).toContain('`npm start`');
    const unknown = unreachableMessage('http://nowhere.invalid', 'ENOTFOUND');
    expect(unknown).toContain('Cannot reach http://nowhere.invalid (ENOTFOUND)');
    expect(unknown).toContain('`npm start`');
    expect(`${refused}${unknown}`).not.toContain('\n');
  });
});

/** A server on 127.0.0.1 with the given handler; close() also drops open connections. */
async function serve(handler: (request: IncomingMessage, body: string, response: ServerResponse) => void) {
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => handler(request, body, response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('requestJson', () => {
  it('sends JSON with the agent and key, and parses a JSON reply whatever its status', async () => {
    const seen: Array<{ method?: string | undefined; headers: IncomingMessage['headers']; body: string }> = [];
    const server = await serve((request, body, response) => {
      seen.push({ method: request.method, headers: request.headers, body });
      response.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"degraded"}');
    });
    try {
      const reply = await requestJson(`${server.url}/events`, {
        method: 'POST',
        body: { a: 1 },
        apiKey: 'secret',
        userAgent: 'eventflow-test',
        timeoutMs: 5000,
      });
      expect(reply).toMatchObject({ status: 503, network: null, json: true, body: { status: 'degraded' } });
      expect(reply.latencyMs).toBeGreaterThanOrEqual(0);
      expect(seen[0]?.method).toBe('POST');
      expect(seen[0]?.body).toBe('{"a":1}');
      expect(seen[0]?.headers).toMatchObject({
        'content-type': 'application/json',
        'user-agent': 'eventflow-test',
        'x-api-key': 'secret',
        accept: 'application/json',
      });
    } finally {
      await server.close();
    }
  });

  it('keeps a reply that is not JSON as text, and sends a GET without a body or key', async () => {
    const seen: IncomingMessage['headers'][] = [];
    const server = await serve((request, _body, response) => {
      seen.push(request.headers);
      response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
    });
    try {
      const reply = await requestJson(`${server.url}/health`, { userAgent: 'eventflow-test', timeoutMs: 5000 });
      expect(reply).toMatchObject({ status: 502, json: false, body: '<h1>Bad gateway</h1>' });
      expect(seen[0]).not.toHaveProperty('x-api-key');
      expect(seen[0]).not.toHaveProperty('content-type');
    } finally {
      await server.close();
    }
  });

  it('resolves with ECONNREFUSED when nothing listens', async () => {
    const reply = await requestJson(`http://127.0.0.1:${await closedPort()}/health`, {
      userAgent: 'eventflow-test',
      timeoutMs: 5000,
    });
    expect(reply).toMatchObject({ status: null, network: 'ECONNREFUSED', body: null, json: false });
  });

  it('resolves with TIMEOUT when the server does not answer in time', async () => {
    const server = await serve(() => {
      // never answers
    });
    try {
      const reply = await requestJson(`${server.url}/health`, { userAgent: 'eventflow-test', timeoutMs: 50 });
      expect(reply).toMatchObject({ status: null, network: 'TIMEOUT' });
    } finally {
      await server.close();
    }
  });
});

describe('toSendOptions', () => {
  const defaults = { rate: 50, invalidFraction: 0.1, concurrency: 16 };

  it("applies the script's defaults and a random seed", () => {
    const options = toSendOptions({}, defaults);
    expect(options).toMatchObject({
      rate: 50,
      baseUrl: DEFAULT_BASE_URL,
      invalidFraction: 0.1,
      batch: null,
      concurrency: 16,
    });
    expect(Number.isSafeInteger(options.seed)).toBe(true);
  });

  it('reads every shared flag', () => {
    const values = {
      rate: '200',
      url: 'http://localhost:4000/',
      invalid: '0',
      batch: '100',
      concurrency: '4',
      'api-key': 'k',
      seed: '7',
    };
    expect(Object.keys(values).sort()).toEqual(Object.keys(SEND_FLAGS).sort());
    expect(toSendOptions(values, defaults)).toEqual({
      rate: 200,
      baseUrl: 'http://localhost:4000',
      invalidFraction: 0,
      batch: 100,
      concurrency: 4,
      apiKey: 'k',
      seed: 7,
    });
  });

  it('refuses a batch over the API limit and other out-of-range values', () => {
    expect(() => toSendOptions({ batch: '101' }, defaults)).toThrow('--batch must be an integer from 1 to 100, got "101"');
    expect(() => toSendOptions({ invalid: '1.5' }, defaults)).toThrow('--invalid must be a fraction between 0 and 1');
    expect(() => toSendOptions({ concurrency: '1001' }, defaults)).toThrow('--concurrency must be an integer from 1 to 1000');
    expect(() => toSendOptions({ rate: '0' }, defaults)).toThrow('--rate must be a positive number');
  });
});

describe('sendEvents', () => {
  it('sends every event within the concurrency bound and tallies the replies by status', async () => {
    let inFlight = 0;
    let mostInFlight = 0;
    const paths: string[] = [];
    const server = await serve((request, body, response) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      paths.push(request.url ?? '');
      const events = (JSON.parse(body) as { events: unknown[] }).events;
      setTimeout(() => {
        inFlight--;
        const status = paths.length % 3 === 0 ? 400 : 202;
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: events.length }));
      }, 5);
    });
    try {
      const settled = vi.fn();
      const options = toSendOptions(
        { url: server.url, seed: '1', batch: '4' },
        { rate: 10_000, invalidFraction: 0, concurrency: 2 },
      );
      const run = await sendEvents(options, 30, {
        userAgent: 'eventflow-test',
        timeoutMs: 5000,
        accepted: (reply, events) => (reply.status === 202 ? events.length : 0),
        settled,
      });
      const { tally } = run;
      expect(paths).toHaveLength(8); // 7 batches of 4 and one of 2
      expect(new Set(paths)).toEqual(new Set(['/events/batch']));
      expect(mostInFlight).toBeLessThanOrEqual(2);
      expect(settled).toHaveBeenCalledTimes(8);
      expect(tally.sent).toBe(30);
      expect(tally.generated.valid).toBe(30);
      expect(tally.accepted + tally.rejected).toBe(30);
      expect(tally.rejected).toBeGreaterThan(0);
      expect([...tally.statuses.values()].reduce((a, b) => a + b, 0)).toBe(8);
      expect(tally.latencies).toHaveLength(8);
      expect(tally.unreachable).toBeNull();
      expect(run.elapsedMs).toBeGreaterThan(0);
      const rows = tallyRows(tally);
      expect(rows.slice(0, 3).map(([label]) => label)).toEqual(['accepted', 'rejected', 'errors']);
      expect(rows).toContainEqual(['  HTTP 202', `${tally.statuses.get(202)} requests`]);
    } finally {
      await server.close();
    }
  });

  it('stops sending once a request finds nothing there', async () => {
    const options = toSendOptions(
      { url: `http://127.0.0.1:${await closedPort()}` },
      { rate: 10_000, invalidFraction: 0, concurrency: 1 },
    );
    const run = await sendEvents(options, 50, { userAgent: 'eventflow-test', timeoutMs: 5000, accepted: () => 1 });
    expect(run.tally.unreachable).toBe('ECONNREFUSED');
    expect(run.tally.sent).toBe(1);
    expect(run.tally.lost).toBe(1);
    expect(run.tally.networkErrors.get('ECONNREFUSED')).toBe(1);
    expect(tallyRows(run.tally)).toContainEqual(['  ECONNREFUSED', '1 requests']);
  });
});

describe('renderLabelled', () => {
  it('pads labels to the longest and leaves no trailing blanks', () => {
    expect(
      renderLabelled([
        ['target', 'http://127.0.0.1:3000/events'],
        ['API latency', 'p50 1.0 ms'],
        ['', ''],
      ]),
    ).toBe('target       http://127.0.0.1:3000/events\nAPI latency  p50 1.0 ms\n');
  });
});
