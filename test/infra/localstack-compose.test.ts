// localstack-compose.yml, checked without Docker: it parses, names the services the LocalStack path
// needs, and wires the local endpoints to the ports and values the stack's LocalStack target expects.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONTEXT_DEFAULTS } from '../../lib/config.ts';

interface Service {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(new URL('../../localstack-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;
const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  scripts: Record<string, string>;
  engines: { node: string };
};
const deployDoc = readFileSync(new URL('../../docs/DEPLOY.md', import.meta.url), 'utf8');
/** The last LocalStack community release (no auth token) and later than its nodejs24.x support. */
const LOCALSTACK_VERSION = '4.14.0';

const portOf = (url: string) => new URL(url).port;
const command = (service: Service | undefined) =>
  Array.isArray(service?.command) ? service.command.join(' ') : service?.command;

describe('localstack-compose.yml', () => {
  it('defines LocalStack, Redis, Postgres and the two local protocol endpoints', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['localstack', 'redis', 'postgres', 'data-api', 'upstash']));
  });

  it('starts LocalStack with the services the stack uses', () => {
    const enabled = services.localstack?.environment?.SERVICES?.split(',') ?? [];
    for (const name of [
      'apigateway',
      'lambda',
      'sqs',
      'events',
      'logs',
      'cloudwatch',
      'secretsmanager',
      'iam',
      'sts',
      'cloudformation',
      'ssm',
      's3',
    ]) {
      expect(enabled).toContain(name);
    }
    expect(services.localstack?.ports).toContain('4566:4566');
  });

  it('runs the Data API endpoint over Postgres on the port the stack points Lambdas at', () => {
    const api = services['data-api'];
    expect(command(api)).toBe('npm run local:data-api');
    expect(packageJson.scripts['local:data-api']).toBeDefined();
    expect(api?.environment).toMatchObject({
      DATABASE_URL: expect.stringContaining('@postgres:5432/'),
      DATA_API_LOCAL_PORT: '8080',
    });
    const port = portOf(CONTEXT_DEFAULTS.localDataApiEndpoint);
    expect(api?.ports).toContain(`${port}:${port}`);
  });

  it('runs the Upstash REST endpoint over Redis with the token the stack gives the Lambdas', () => {
    const upstash = services.upstash;
    expect(command(upstash)).toBe('npm run local:upstash');
    expect(packageJson.scripts['local:upstash']).toBeDefined();
    expect(upstash?.environment).toMatchObject({
      REDIS_URL: 'redis://redis:6379',
      UPSTASH_LOCAL_PORT: '8079',
      UPSTASH_LOCAL_TOKEN: CONTEXT_DEFAULTS.localUpstashToken,
    });
    const port = portOf(CONTEXT_DEFAULTS.localUpstashUrl);
    expect(upstash?.ports).toContain(`${port}:${port}`);
  });

  it('pins the LocalStack image to the documented tag: no `latest`, the same tag in docs/DEPLOY.md', () => {
    const image = services.localstack?.image ?? '';
    // `${LOCALSTACK_IMAGE:-<default>}`: the default is what a plain `docker compose up` pulls.
    const pinned = /^\$\{LOCALSTACK_IMAGE:-([^}]+)\}$/.exec(image)?.[1] ?? image;
    expect(pinned).toMatch(/^localstack\/localstack:\d+\.\d+\.\d+$/);
    expect(pinned).toBe(`localstack/localstack:${LOCALSTACK_VERSION}`);
    expect(deployDoc).toContain(`localstack/localstack:${LOCALSTACK_VERSION}`);
    expect(services.localstack?.environment).toHaveProperty('LOCALSTACK_AUTH_TOKEN');
  });

  it("runs the endpoint services on the Node major the project's engines field asks for", () => {
    const major = /(\d+)/.exec(packageJson.engines.node)?.[1];
    for (const name of ['deps', 'data-api', 'upstash']) {
      expect(services[name]?.image, name).toBe(`node:${major}-bookworm-slim`);
    }
  });

  it('npm run deploy:local bootstraps and deploys the LocalStack target (context localstack=true)', () => {
    const script = packageJson.scripts['deploy:local'] ?? '';
    expect(script).toMatch(/^cdklocal bootstrap -c localstack=true && cdklocal deploy -c localstack=true\b/);
  });

  it('lets Lambda containers reach the endpoints through host.docker.internal', () => {
    expect(CONTEXT_DEFAULTS.localDataApiEndpoint).toContain('host.docker.internal');
    expect(services.localstack?.environment?.LAMBDA_DOCKER_FLAGS).toContain('host.docker.internal:host-gateway');
  });
});
