// EventStream over Upstash's REST API with fetch: Lambdas reach Redis without a VPC, a held socket or the SDK.
// A transport for command-stream.ts (the same commands as the ioredis adapter); must never promise a blocking read.

import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../errors.ts';
import type { EventStream } from '../../ports.ts';
import { callSignal } from '../deadline.ts';
import { classifyRedisError } from './classify-redis.ts';
import { type Command, createCommandStream } from './command-stream.ts';

export interface UpstashStreamOptions {
  readonly url: string;
  readonly token: string;
  readonly streamKey: string;
  readonly group: string;
}

/** Whole-request deadline (retries included): a hung fetch would hang the Lambda. */
const REQUEST_TIMEOUT_MS = 5000;

/**
 * Network failures only (a stale keep-alive socket is common on Lambda), kept short so an unreachable
 * endpoint fails fast. A retried XADD may duplicate an entry: processing is idempotent.
 */
const RETRIES = 2;
const backoffMs = (attempt: number) => 50 * 2 ** attempt;

/** Upstash answered `{error}` (a failed command, a refused token, a rate limit). */
export class UpstashError extends Error {
  override readonly name: string = 'UpstashError';
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
    /** The pipeline command that failed, when one did. */
    readonly command?: string,
  ) {
    super(message, options);
  }
}

/** A reply that is not JSON: a gateway's HTML page (502/503) where Redis's answer should be. */
export class UpstashJSONParseError extends UpstashError {
  override readonly name = 'UpstashJSONParseError';
}

/**
 * Whether a request whose fate is unknown (the connection died) may be sent again. Not reads that
 * deliver entries: if the first one ran, its entries are pending to us but never returned, and come
 * back later with a delivery counted that no attempt made.
 */
const isSafeToRepeat = (commands: readonly Command[]) => !commands.some(([name]) => name === 'XREADGROUP' || name === 'XCLAIM');

/** Undoes `Upstash-Encoding: base64` on every string of a reply, nested arrays included. */
function decode(value: unknown): unknown {
  if (typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
  if (Array.isArray(value)) return value.map(decode);
  return value;
}

/** Upstash leaves simple-string replies such as OK unencoded. */
function decodeReply(value: unknown): unknown {
  return value === 'OK' ? value : decode(value);
}

type Reply = { result?: unknown; error?: string };

/**
 * The two REST calls the stream needs (`POST /` and `POST /pipeline`). Responses are base64-encoded:
 * Upstash's JSON encoding has mangled non-BMP characters. Values stay raw strings, as with ioredis.
 */
function createRestClient(url: string, token: string) {
  const base = url.replace(/\/+$/, '');
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    'upstash-encoding': 'base64',
  };
  // Read-your-writes across Upstash's replicas: each request carries the last write's sync token.
  let syncToken = '';

  async function post(path: string, body: unknown, retry: boolean): Promise<unknown> {
    // One signal per call (retries included): the cap, or less when the invocation's deadline is nearer.
    const signal = callSignal(REQUEST_TIMEOUT_MS);
    const init: RequestInit = {
      method: 'POST',
      headers: syncToken ? { ...headers, 'upstash-sync-token': syncToken } : headers,
      body: JSON.stringify(body),
      signal,
    };
    let response: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(`${base}${path}`, init);
        break;
      } catch (error) {
        if (!retry || signal.aborted || attempt >= RETRIES) throw error;
        await sleep(backoffMs(attempt));
      }
    }
    syncToken = response.headers.get('upstash-sync-token') ?? syncToken;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // The page itself (not the request body: megabytes of event payloads in a log line).
      throw new UpstashJSONParseError(text.slice(0, 200), response.status, { cause: error });
    }
    if (!response.ok) {
      throw new UpstashError(String((parsed as Reply).error ?? response.statusText), response.status);
    }
    return parsed;
  }

  return {
    async exec(command: Command): Promise<unknown> {
      const { result, error } = (await post('', command, isSafeToRepeat([command]))) as Reply;
      if (error) throw new UpstashError(error);
      return decodeReply(result);
    },
    async pipeline(commands: readonly Command[]): Promise<unknown[]> {
      const replies = (await post('/pipeline', commands, isSafeToRepeat(commands))) as Reply[];
      return replies.map(({ result, error }, i) => {
        // Redis's reply text stays the message (classifiers match NOGROUP, LOADING … at its start); the
        // command is kept beside it.
        if (error) throw new UpstashError(error, undefined, undefined, String(commands[i]?.[0]));
        return decodeReply(result);
      });
    },
  };
}

/**
 * Upstash errors in EventFlow's types, by the rules shared with the ioredis adapter (a gateway page
 * instead of JSON, a timed-out or aborted fetch, and socket errors are all transport failures).
 */
export function classifyUpstashError(error: unknown): Error {
  return classifyRedisError(error);
}

export function createUpstashStream(options: UpstashStreamOptions): EventStream {
  // A missing url/token would fail every call later: fail at cold start instead.
  if (!options.url.trim())
    throw new ConfigError('Upstash stream: url is empty (UPSTASH_REDIS_REST_URL or the UPSTASH_SECRET_ARN secret)');
  if (!options.token.trim())
    throw new ConfigError('Upstash stream: token is empty (UPSTASH_REDIS_REST_TOKEN or the UPSTASH_SECRET_ARN secret)');
  const client = createRestClient(options.url, options.token);

  return createCommandStream(
    {
      canBlock: false,
      async call(command) {
        try {
          return await client.exec(command);
        } catch (error) {
          throw classifyUpstashError(error);
        }
      },
      async pipeline(commands) {
        try {
          return await client.pipeline(commands);
        } catch (error) {
          throw classifyUpstashError(error);
        }
      },
      async close() {
        // Nothing to release: every call is its own HTTP request.
      },
    },
    { streamKey: options.streamKey, group: options.group },
  );
}
