// HTTP for the operator scripts: a request with a timeout and its JSON reply, a failed one's error code, "is a server there".
// Must never retry, print, nor throw for a network failure: a request without a reply resolves with its error code.

/** Codes that mean "there is no server there", as opposed to a server misbehaving. */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The error code of a failed fetch: 'TIMEOUT' for an abort or timeout, else the socket's code (ECONNREFUSED, …). */
export function networkErrorCode(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'TIMEOUT';
  // Node's fetch (undici) wraps the socket error: TypeError('fetch failed', { cause: { code } }), or an AggregateError
  // of the attempts when a name resolves to several addresses.
  const cause = (error as { cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | null)?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}

/** Whether a network error code means nothing is there at all (a timeout does not: a busy server is there). */
export function isUnreachable(code: string): boolean {
  return UNREACHABLE_CODES.has(code);
}

/** One line for an operator who ran a script with no server: what failed, and how to start one. */
export function unreachableMessage(baseUrl: string, code: string): string {
  if (code === 'ECONNREFUSED') {
    return `Nothing is listening at ${baseUrl} (connection refused). Start the server with \`npm start\` (in another terminal), or pass --url.`;
  }
  return `Cannot reach ${baseUrl} (${code}). Check --url, or start the server with \`npm start\`.`;
}

/** fetch, aborted with a TimeoutError after `timeoutMs` (the body must be read within that time too). */
export function fetchWithTimeout(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

export interface RequestOptions {
  readonly method?: 'GET' | 'POST';
  /** Sent as JSON when given. */
  readonly body?: unknown;
  /** Sent as x-api-key when set. */
  readonly apiKey?: string | undefined;
  readonly userAgent: string;
  readonly timeoutMs: number;
}

/** An HTTP reply, whatever its status: `body` is the parsed JSON when `json`, else the text (e.g. a proxy's error page). */
export interface HttpResponseReply {
  readonly status: number;
  readonly network: null;
  readonly body: unknown;
  readonly json: boolean;
  readonly latencyMs: number;
  /** Seconds the server asked us to wait (`Retry-After` in seconds), when it did. */
  readonly retryAfterSeconds?: number | undefined;
}

/** No HTTP reply: `network` says why (networkErrorCode). */
export interface NetworkFailure {
  readonly status: null;
  readonly network: string;
  readonly body: null;
  readonly json: false;
  readonly latencyMs: number;
}

/** What a request ended as; `status === null` tells the two apart. */
export type HttpReply = HttpResponseReply | NetworkFailure;

/** One request; the latency includes reading the whole body, which also returns the connection to the pool. */
export async function requestJson(url: string, options: RequestOptions): Promise<HttpReply> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': options.userAgent };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const started = performance.now();
  try {
    const init: RequestInit = { method: options.method ?? 'GET', headers };
    if (options.body !== undefined) init.body = JSON.stringify(options.body);
    const response = await fetchWithTimeout(url, init, options.timeoutMs);
    const text = await response.text();
    const latencyMs = performance.now() - started;
    const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
    const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
    try {
      return { status: response.status, network: null, body: JSON.parse(text), json: true, latencyMs, retryAfterSeconds };
    } catch {
      return { status: response.status, network: null, body: text, json: false, latencyMs, retryAfterSeconds };
    }
  } catch (error) {
    return { status: null, network: networkErrorCode(error), body: null, json: false, latencyMs: performance.now() - started };
  }
}
