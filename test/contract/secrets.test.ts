// Reading the Upstash credentials from Secrets Manager through the real SDK against a stand-in for the
// service's JSON protocol, and through the Lambda extension's HTTP interface: the secret's shape is checked,
// and an unreachable service is an outage.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWithDeadline } from '../../lambdas/adapters/deadline.ts';
import { readUpstashCredentials, readUpstashCredentialsFromExtension } from '../../lambdas/adapters/secrets.ts';
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

describe('readUpstashCredentialsFromExtension', () => {
  // Plays the AWS Parameters and Secrets extension's HTTP interface (GET /secretsmanager/get on localhost); the
  // extension itself only runs inside Lambda.
  const SESSION_TOKEN = 'session-token';
  let answers: Array<{ status: number; body: string }>;
  let requests: Array<{ url: string; token: string | undefined }>;
  let extension: Server;
  let port: number;

  beforeAll(async () => {
    extension = createServer((request, response) => {
      requests.push({ url: request.url ?? '', token: request.headers['x-aws-parameters-secrets-token'] as string | undefined });
      const answer = answers.shift() ?? { status: 500, body: 'no answer scripted' };
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => extension.listen(0, '127.0.0.1', () => resolve()));
    port = (extension.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => extension.close(() => resolve()));
  });

  const read = () => readUpstashCredentialsFromExtension(ARN, { port, host: '127.0.0.1', sessionToken: SESSION_TOKEN });
  const secretValue = (secret: unknown) => JSON.stringify({ ARN, Name: 'upstash', SecretString: JSON.stringify(secret) });

  it('asks for the secret by ARN with the session token and returns its url and token', async () => {
    answers = [{ status: 200, body: secretValue({ url: 'https://eu1-example.upstash.io', token: 'tok' }) }];
    requests = [];

    await expect(read()).resolves.toEqual({ url: 'https://eu1-example.upstash.io', token: 'tok' });

    expect(requests).toEqual([{ url: `/secretsmanager/get?secretId=${encodeURIComponent(ARN)}`, token: SESSION_TOKEN }]);
  });

  it('waits while the extension is not ready yet (it starts beside the runtime)', async () => {
    answers = [
      { status: 400, body: 'not ready to serve traffic, please wait' },
      { status: 400, body: 'not ready to serve traffic, please wait' },
      { status: 200, body: secretValue({ url: 'https://x.upstash.io', token: 't' }) },
    ];
    requests = [];

    await expect(read()).resolves.toEqual({ url: 'https://x.upstash.io', token: 't' });
    expect(requests).toHaveLength(3);
  });

  it('refuses a secret of another shape with a ConfigError naming it', async () => {
    answers = [{ status: 200, body: secretValue({ url: 'https://x' }) }];
    requests = [];

    const error = await read().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(ARN);
  });

  it("is DependencyUnavailableError('stream') when Secrets Manager throttles or fails behind it, a plain Error when denied", async () => {
    answers = [
      { status: 503, body: '{"message":"Service Unavailable"}' },
      { status: 403, body: '{"__type":"AccessDeniedException"}' },
    ];
    requests = [];

    const unavailable = await read().catch((caught: unknown) => caught);
    const denied = await read().catch((caught: unknown) => caught);

    expect(unavailable).toBeInstanceOf(DependencyUnavailableError);
    expect((unavailable as DependencyUnavailableError).dependency).toBe('stream');
    expect(denied).toBeInstanceOf(Error);
    expect(denied).not.toBeInstanceOf(DependencyUnavailableError);
    expect((denied as Error).message).toContain('403');
  });

  it("keeps retrying a refused connection until the deadline, then is DependencyUnavailableError('stream')", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await runWithDeadline(Date.now() + 600, () =>
      readUpstashCredentialsFromExtension(ARN, { port: closedPort, host: '127.0.0.1', sessionToken: SESSION_TOKEN }),
    ).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DependencyUnavailableError);
  });
});
