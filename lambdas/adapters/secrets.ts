// Reads the Upstash credentials from Secrets Manager (they never sit in env vars): in Lambda through the AWS
// Parameters and Secrets extension, elsewhere through the SDK. A secret we could not fetch is the stream unavailable.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, DependencyUnavailableError } from '../errors.ts';
import { callSignal } from './deadline.ts';
import { messageOf, transportFailure } from './transport-failure.ts';

/** Network failures, timeouts, throttling and 5xx → DependencyUnavailableError('stream'); anything else unchanged. */
export function classifySecretsError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError) return error;
  const message = messageOf(error);
  if (transportFailure(error)) {
    return new DependencyUnavailableError('stream', `secrets manager unavailable: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}

/** Longest a secret read may take. */
const SECRET_READ_CAP_MS = 5000;

export interface UpstashCredentials {
  readonly url: string;
  readonly token: string;
}

/** `{url, token}` from the secret's text; a secret of another shape is a ConfigError naming it. */
function parseCredentials(secretArn: string, secretString: string | undefined): UpstashCredentials {
  let value: { url?: unknown; token?: unknown } = {};
  try {
    value = JSON.parse(secretString ?? '{}') as typeof value;
  } catch {
    // Reported below with the expected shape.
  }
  if (typeof value?.url !== 'string' || typeof value?.token !== 'string') {
    throw new ConfigError(`secret ${secretArn} must hold JSON {"url": "...", "token": "..."}`);
  }
  return { url: value.url, token: value.token };
}

/** The extension answers this (HTTP 400) until it has finished its own start, which overlaps ours. */
const NOT_READY = /not ready/i;
const EXTENSION_RETRY_MS = 50;

/**
 * `{url, token}` through the AWS Parameters and Secrets Lambda extension (`GET /secretsmanager/get` on
 * localhost, authenticated by the invocation's session token): no SDK client in the bundle. The extension starts
 * beside the runtime, so "refused" and "not ready" are retried until the cap.
 */
export async function readUpstashCredentialsFromExtension(
  secretArn: string,
  options: { readonly port: number; readonly sessionToken: string | undefined; readonly host?: string },
): Promise<UpstashCredentials> {
  const url = `http://${options.host ?? 'localhost'}:${options.port}/secretsmanager/get?secretId=${encodeURIComponent(secretArn)}`;
  const signal = callSignal(SECRET_READ_CAP_MS);
  const headers = { 'x-aws-parameters-secrets-token': options.sessionToken ?? '' };
  for (;;) {
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, { headers, signal });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (signal.aborted || !isRefused(error)) throw classifySecretsError(error);
      await sleep(EXTENSION_RETRY_MS, signal);
      continue;
    }
    if (status === 200) {
      let body: { SecretString?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new DependencyUnavailableError('stream', `secrets extension answered 200 without JSON: ${text.slice(0, 200)}`);
      }
      return parseCredentials(secretArn, body?.SecretString);
    }
    if (status === 400 && NOT_READY.test(text)) {
      await sleep(EXTENSION_RETRY_MS, signal);
      continue;
    }
    const message = `secrets extension answered ${status} for ${secretArn}: ${text.slice(0, 300)}`;
    // Throttling or Secrets Manager unwell: the stream is unavailable. Anything else (denied, no such secret) is ours.
    if (status === 429 || status >= 500) throw new DependencyUnavailableError('stream', message);
    throw new Error(message);
  }
}

function isRefused(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } })?.cause;
  return cause?.code === 'ECONNREFUSED';
}

/** Waits `ms`, or rejects as a timeout once `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(classifySecretsError(signal.reason));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(classifySecretsError(signal.reason));
      },
      { once: true },
    );
  });
}

/** `{url, token}` through the SDK (outside Lambda; the Lambda bundles replace the SDK client with a stub). */
export async function readUpstashCredentials(
  secretArn: string,
  client: SecretsManagerClient = new SecretsManagerClient({}),
): Promise<UpstashCredentials> {
  let secretString: string | undefined;
  try {
    // Read at cold start, outside any invocation: the cap bounds it (the init phase has 10 s in all).
    const output = await client.send(new GetSecretValueCommand({ SecretId: secretArn }), {
      abortSignal: callSignal(SECRET_READ_CAP_MS),
    });
    secretString = output.SecretString;
  } catch (error) {
    throw classifySecretsError(error);
  }
  return parseCredentials(secretArn, secretString);
}
