// EventStream over Upstash's REST API (@upstash/redis): Lambdas reach Redis without a VPC or a held socket.
// A transport for command-stream.ts (the same commands as the ioredis adapter); must never promise a blocking read.
import { errors, Redis } from '@upstash/redis';
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

/** Whole-request deadline (retries included): the client has none, and a hung fetch would hang the Lambda. */
const REQUEST_TIMEOUT_MS = 5000;

/**
 * Adds one raw POST /pipeline: the typed pipeline cannot send the XPENDING summary form, and raw
 * commands keep both adapters on identical command lines and reply shapes.
 */
class UpstashRedis extends Redis {
  async pipelineRaw(commands: readonly Command[]): Promise<unknown[]> {
    const replies = (await this.client.request({ path: ['pipeline'], body: commands })) as unknown as {
      result?: unknown;
      error?: string;
    }[];
    return replies.map(({ result, error }, i) => {
      if (error) throw new errors.UpstashError(`${commands[i]?.[0]} failed: ${error}`);
      return result;
    });
  }
}

/**
 * @upstash/redis errors in EventFlow's types, by the rules shared with the ioredis adapter (a gateway
 * page instead of JSON, a timed-out or aborted fetch, and socket errors are all transport failures).
 */
export function classifyUpstashError(error: unknown): Error {
  if (error instanceof errors.UpstashError && error.message.includes(', command was: ')) {
    // The client appends the whole request body to HTTP errors: megabytes of event payloads in a log line.
    return classifyRedisError(new errors.UpstashError(error.message.replace(/, command was: [\s\S]*$/, '')));
  }
  return classifyRedisError(error);
}

export function createUpstashStream(options: UpstashStreamOptions): EventStream {
  // The client only warns on a missing url/token and then fails every call: fail at cold start instead.
  if (!options.url.trim())
    throw new ConfigError('Upstash stream: url is empty (UPSTASH_REDIS_REST_URL or the UPSTASH_SECRET_ARN secret)');
  if (!options.token.trim())
    throw new ConfigError('Upstash stream: token is empty (UPSTASH_REDIS_REST_TOKEN or the UPSTASH_SECRET_ARN secret)');
  const redis = new UpstashRedis({
    url: options.url,
    token: options.token,
    // Raw strings like ioredis; the default JSON-parses values ('{"a":1}' would come back an object).
    automaticDeserialization: false,
    // Auto-pipelining batches calls made in the same tick into one request with shared failure; we
    // batch explicitly where it matters (add, stats) and want one request per call elsewhere.
    enableAutoPipelining: false,
    enableTelemetry: false,
    // Only network failures are retried (a stale keep-alive socket is common on Lambda); kept short so
    // an unreachable endpoint fails fast. A retried XADD may duplicate an entry: processing is idempotent.
    retry: { retries: 2, backoff: (attempt) => 50 * 2 ** attempt },
    // Called per request: the cap, or less when the invocation's deadline is nearer (lambdas/adapters/deadline.ts).
    signal: () => callSignal(REQUEST_TIMEOUT_MS),
    // responseEncoding stays base64 (the default): Upstash's JSON encoding has mangled non-BMP characters.
    // Cost: the client's decoder drops a leading U+FEFF; harmless, as stream data is JSON.stringify output.
  });

  return createCommandStream(
    {
      canBlock: false,
      async call(command) {
        try {
          return await redis.exec(command);
        } catch (error) {
          throw classifyUpstashError(error);
        }
      },
      async pipeline(commands) {
        try {
          return await redis.pipelineRaw(commands);
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
