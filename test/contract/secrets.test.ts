// Reading the Upstash credentials from Secrets Manager through the real SDK against a stand-in for the
// service's JSON protocol: the secret's shape is checked, and an unreachable service is an outage.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readUpstashCredentials } from '../../lambdas/adapters/secrets.ts';
import { ConfigError, DependencyUnavailableError } from '../../lambdas/errors.ts';

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:upstash';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

let secretString: string | undefined;
let server: Server;
let endpoint: string;

const clientFor = (url: string) =>
  new SecretsManagerClient({ endpoint: url, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });

beforeAll(async () => {
  // GetSecretValue over awsJson1_1: POST / with X-Amz-Target, answered with the secret's fields.
  server = createServer((request, response) => {
    request.resume().on('end', () => {
      response
        .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ ARN, Name: 'upstash', ...(secretString === undefined ? {} : { SecretString: secretString }) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('readUpstashCredentials', () => {
  it('returns the url and token of a secret holding {"url", "token"}', async () => {
    secretString = JSON.stringify({ url: 'https://eu1-example.upstash.io', token: 'tok' });
    const client = clientFor(endpoint);

    await expect(readUpstashCredentials(ARN, client)).resolves.toEqual({ url: 'https://eu1-example.upstash.io', token: 'tok' });
    client.destroy();
  });

  it.each([
    ['not JSON', 'url=https://x token=y'],
    ['JSON without a token', JSON.stringify({ url: 'https://x' })],
    ['JSON null', 'null'],
    ['no SecretString at all', undefined],
  ])('refuses a secret that is %s with a ConfigError naming the secret', async (_label, value) => {
    secretString = value;
    const client = clientFor(endpoint);

    const error = await readUpstashCredentials(ARN, client).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(ARN);
    client.destroy();
  });

  it("rejects with DependencyUnavailableError('stream') when Secrets Manager cannot be reached", async () => {
    const client = clientFor('http://127.0.0.1:1');

    const error = await readUpstashCredentials(ARN, client).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe('stream');
    client.destroy();
  });
});
