// A local stand-in for API Gateway's REST proxy integration: turns Node HTTP requests into
// APIGatewayProxyEvents for the real ingest handler and writes its result back. Dev tooling only.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';

/** API Gateway refuses bodies over 10 MB; so do we, before buffering more. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export function toApiGatewayEvent(request: IncomingMessage, body: Buffer): APIGatewayProxyEvent {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    headers[name] = value;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    multiQuery[name] = [...(multiQuery[name] ?? []), value];
  }
  const requestId = randomUUID();
  return {
    httpMethod: request.method ?? 'GET',
    path: url.pathname,
    resource: url.pathname,
    headers,
    multiValueHeaders,
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: Object.keys(multiQuery).length ? multiQuery : null,
    pathParameters: null,
    stageVariables: null,
    body: body.length ? body.toString('base64') : null,
    isBase64Encoded: body.length > 0,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      authorizer: null,
      protocol: `HTTP/${request.httpVersion}`,
      httpMethod: request.method ?? 'GET',
      identity: {
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? null,
      } as APIGatewayProxyEvent['requestContext']['identity'],
      path: url.pathname,
      stage: 'local',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: url.pathname,
    },
  };
}

/** A Lambda context with a generous deadline, as the local server has no timeout. */
export function localContext(functionName: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export interface LocalApiServerOptions {
  /** Whole request, headers and body, must arrive within this (API Gateway allows 30 s). */
  readonly requestTimeoutMs?: number;
  /** Headers must arrive within this. */
  readonly headersTimeoutMs?: number;
}

/**
 * An HTTP server that sends every request through `handler`, except paths in `extraRoutes`
 * (local-only endpoints such as Prometheus /metrics). A client that sends its headers or body too
 * slowly is cut off with a 408 rather than holding a connection for Node's default 300 s.
 */
export function createLocalApiServer(
  handler: ProxyHandler,
  extraRoutes: Record<string, (response: ServerResponse) => Promise<void>> = {},
  options: LocalApiServerOptions = {},
): Server {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout);
  return createServer(
    {
      requestTimeout,
      headersTimeout,
      // How often Node looks for requests past those limits (default 30 s, longer than the limits here).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 2))),
    },
    async (request, response) => {
      try {
        const extra = extraRoutes[`${request.method} ${new URL(request.url ?? '/', 'http://localhost').pathname}`];
        if (extra) return await extra(response);
        const body = await readBody(request);
        if (body === null) {
          response.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
          response.end(JSON.stringify({ error: 'payload_too_large', message: `body over ${MAX_REQUEST_BYTES} bytes` }));
          request.destroy();
          return;
        }
        const result = await handler(toApiGatewayEvent(request, body), localContext('eventflow-ingest'));
        response.writeHead(result.statusCode, result.headers as Record<string, string>);
        response.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
      } catch (error) {
        // A request cut off by the timeouts ends its body stream with an error: the socket is gone already.
        if (response.headersSent || request.destroyed) return;
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: 'internal_error', message: 'internal error' }));
        console.error('local API server: unhandled error', error);
      }
    },
  );
}
