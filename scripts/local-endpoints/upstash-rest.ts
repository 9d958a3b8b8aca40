// Upstash-REST-compatible HTTP endpoint over a real Redis, so @upstash/redis runs offline and in tests.
// Dev tooling only: lambdas/ must never import it, and it has no TLS or rate limits: keep it on localhost.
import { createServer, type IncomingMessage } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Redis, ReplyError } from 'ioredis';
import { redactCredentials } from '../../lambdas/observability/logger.ts';
import { listen } from './listen.ts';

export interface UpstashRestServerOptions {
  readonly redisUrl: string;
  readonly token: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
}

export interface UpstashRestServer {
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

type Command = [name: string, ...args: (string | number)[]];
type Item = { result: unknown } | { error: string };

/** A request the endpoint answers with `{error}` and this HTTP status. */
export class UpstashRestRequestError extends Error {
  override readonly name = 'UpstashRestRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Guards local memory only; real Upstash has its own (plan-dependent) request cap. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Every request shares one connection, so commands that block it or change its state are refused
 * (Upstash REST cannot block either). Transactions go through /multi-exec.
 */
const REFUSED = new Set(
  `BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP WAIT
   SUBSCRIBE PSUBSCRIBE SSUBSCRIBE MONITOR SELECT QUIT RESET MULTI EXEC DISCARD WATCH UNWATCH`.split(/\s+/),
);

function refusal([name, ...args]: Command): string | null {
  const command = name.toUpperCase();
  if (REFUSED.has(command)) return `ERR ${command} is not supported over REST`;
  if (command === 'XREAD' || command === 'XREADGROUP') {
    // Options sit before STREAMS (after GROUP <group> <consumer>); key names after it may be anything.
    const options = args.slice(command === 'XREADGROUP' ? 3 : 0).map((arg) => String(arg).toUpperCase());
    const streams = options.indexOf('STREAMS');
    if (options.slice(0, streams < 0 ? undefined : streams).includes('BLOCK')) {
      return `ERR ${command} with BLOCK is not supported over REST`;
    }
  }
  return null;
}

function toCommand(value: unknown): Command {
  const ok =
    Array.isArray(value) &&
    typeof value[0] === 'string' &&
    value.every((arg) => typeof arg === 'string' || typeof arg === 'number' || typeof arg === 'boolean');
  if (!ok) throw new UpstashRestRequestError(400, 'ERR a command is a JSON array of strings and numbers');
  return value.map((arg) => (typeof arg === 'boolean' ? String(arg) : arg)) as Command;
}

function toCommands(value: unknown): Command[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new UpstashRestRequestError(400, 'ERR a pipeline is a non-empty JSON array of commands');
  }
  return value.map(toCommand);
}

/** What @upstash/redis decodes: every string base64 (nested arrays too), numbers and null untouched. */
function encode(value: unknown, base64: boolean): unknown {
  if (Buffer.isBuffer(value)) return value.toString(base64 ? 'base64' : 'utf8');
  if (typeof value === 'string') return base64 ? Buffer.from(value).toString('base64') : value;
  if (Array.isArray(value)) return value.map((item) => encode(item, base64));
  if (value instanceof Error) return encode(value.message, base64); // an error nested in an array reply
  return value;
}

/** Redis answered with an error: the command failed. Anything else means Redis was not reached. */
function toItem(error: unknown, result: unknown, base64: boolean): Item {
  if (error instanceof ReplyError) return { error: (error as Error).message };
  if (error) throw new UpstashRestRequestError(503, `Service Unavailable: ${(error as Error).message ?? error}`);
  return { result: encode(result, base64) };
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new UpstashRestRequestError(413, 'ERR request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new UpstashRestRequestError(400, 'ERR request body is not valid JSON');
  }
}

export async function startUpstashRestServer(options: UpstashRestServerOptions): Promise<UpstashRestServer> {
  const { token, host = '127.0.0.1' } = options;
  const redis = new Redis(options.redisUrl, {
    protocol: 2, // RESP2: the reply shapes Upstash returns and replies.ts parses
    connectTimeout: 3000,
    commandTimeout: 10_000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Connection errors are answered per request (503); don't crash the process on the event.
  redis.on('error', () => {});
  try {
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(`upstash-rest: cannot reach Redis at ${redactCredentials(options.redisUrl)}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  async function runOne(command: Command, base64: boolean): Promise<Item> {
    const refused = refusal(command);
    if (refused) return { error: refused };
    try {
      return toItem(null, await redis.callBuffer(...command), base64);
    } catch (error) {
      return toItem(error, null, base64);
    }
  }

  async function runMany(commands: Command[], transaction: boolean, base64: boolean): Promise<Item[]> {
    const refused = commands.map(refusal);
    const firstRefusal = refused.find(Boolean);
    // A transaction with a command Redis would reject at queue time is discarded whole, as EXECABORT does.
    if (transaction && firstRefusal) throw new UpstashRestRequestError(400, `EXECABORT ${firstRefusal}`);
    const batch = transaction ? redis.multi() : redis.pipeline();
    commands.forEach((command, i) => {
      if (!refused[i]) batch.callBuffer(...command);
    });
    let replies: [Error | null, unknown][];
    try {
      replies = (await batch.exec()) ?? [];
    } catch (error) {
      const item = toItem(error, null, base64); // EXECABORT is a ReplyError; a lost connection throws 503
      throw new UpstashRestRequestError(400, 'error' in item ? item.error : 'ERR transaction failed');
    }
    let next = 0;
    return commands.map((_, i) => {
      const refusedMessage = refused[i];
      if (refusedMessage) return { error: refusedMessage };
      const [error, result] = replies[next++] ?? [new Error('missing reply'), null];
      return toItem(error, result, base64);
    });
  }

  async function handle(request: IncomingMessage): Promise<{ status: number; body: unknown }> {
    if (request.headers.authorization !== `Bearer ${token}`) {
      throw new UpstashRestRequestError(401, 'Unauthorized: missing or invalid bearer token');
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    if (request.method !== 'POST' || !['/', '/pipeline', '/multi-exec'].includes(path)) {
      throw new UpstashRestRequestError(404, 'ERR only POST /, /pipeline and /multi-exec are supported');
    }
    const body = await readJson(request);
    const base64 = request.headers['upstash-encoding']?.toString().toLowerCase() === 'base64';
    if (path === '/') {
      const item = await runOne(toCommand(body), base64);
      return { status: 'error' in item ? 400 : 200, body: item };
    }
    return { status: 200, body: await runMany(toCommands(body), path === '/multi-exec', base64) };
  }

  const server = createServer((request, response) => {
    handle(request)
      .catch((error: unknown) => ({
        status: error instanceof UpstashRestRequestError ? error.status : 500,
        body: { error: error instanceof Error ? error.message : String(error) },
      }))
      .then(({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      })
      .catch(() => response.destroy());
  });
  const listening = await listen(server, options.port ?? 0, host);

  return {
    url: listening.url,
    token,
    async close() {
      await listening.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.UPSTASH_LOCAL_PORT ?? 8079);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`UPSTASH_LOCAL_PORT must be a port number, got "${process.env.UPSTASH_LOCAL_PORT}"`);
  }
  const server = await startUpstashRestServer({
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    token: process.env.UPSTASH_LOCAL_TOKEN ?? 'local-token',
    port,
    host: process.env.UPSTASH_LOCAL_HOST ?? '127.0.0.1',
  });
  // Printed as env lines so they can be pasted into .env for the Lambdas' Upstash driver.
  console.log(`UPSTASH_REDIS_REST_URL=${server.url}\nUPSTASH_REDIS_REST_TOKEN=${server.token}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void server.close().finally(() => process.exit(0)));
  }
}
