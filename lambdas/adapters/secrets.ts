// Reads the Upstash credentials from Secrets Manager (they never sit in env vars). Failures are
// classified like every other adapter's: a secret we could not fetch is the stream being unavailable.
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

/** `{url, token}` from the secret; a secret of another shape is a ConfigError naming it. */
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
