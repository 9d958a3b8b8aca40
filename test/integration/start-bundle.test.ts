// `npm start`'s server as `npm start` builds and runs it: scripts/start.ts bundled by esbuild (the prestart step)
// and run on plain `node`, with no TypeScript loader. The sources run through tsx in server.test.ts.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStartBundle, START_NODE_FLAGS } from '../../scripts/build/start-bundle.ts';
import { baseEnv, ManagedProcess, REPO_ROOT } from '../support/child-processes.ts';
import { uniqueName } from '../support/services.ts';
import { createServerStorage, type ServerStorage } from '../support/start-server.ts';

// Two folders below the root, like dist/start/: paths built from import.meta.url must reach the same files.
const outdir = join(REPO_ROOT, 'dist', uniqueName('test-start'));

beforeAll(async () => {
  await buildStartBundle(outdir);
}, 60_000);

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

it('is what `npm start` runs: prestart builds it, start runs it on node with START_NODE_FLAGS', () => {
  const { scripts } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  expect(scripts.prestart).toBe('tsx scripts/build/start-bundle.ts');
  expect(scripts.start).toBe(`node ${START_NODE_FLAGS.join(' ')} dist/start/start.mjs`);
});

it('holds no TypeScript loader or bundler: only node built-ins and runtime packages are imported', () => {
  const code = readdirSync(outdir)
    .filter((file) => file.endsWith('.mjs'))
    .map((file) => readFileSync(join(outdir, file), 'utf8'))
    .join('\n');
  const imported = new Set([...code.matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)].map((match) => match[1]));

  expect(imported.size).toBeGreaterThan(0);
  for (const name of ['tsx', 'esbuild', 'typescript', 'vitest']) {
    expect([...imported].filter((spec) => spec === name || spec?.startsWith(`${name}/`))).toEqual([]);
  }
  expect([...imported].filter((spec) => spec?.startsWith('#'))).toEqual([]);
});

describe.each([
  ['pg + ioredis', {}],
  ['data-api + upstash (local endpoints loaded on demand)', { SQL_DRIVER: 'data-api', STREAM_DRIVER: 'upstash' }],
] as const)('the bundled server on %s', (_name, driverEnv) => {
  let storage: ServerStorage;
  let server: ManagedProcess;
  let url: string;

  beforeAll(async () => {
    storage = await createServerStorage(driverEnv);
    const child = spawn(process.execPath, [...START_NODE_FLAGS, join(outdir, 'start.mjs')], {
      cwd: REPO_ROOT,
      env: { ...baseEnv(), ...storage.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = new ManagedProcess('bundled start', child);
    const line = await server.waitForLine(/API\s+http:\/\/\S+/, 60_000);
    url = /API\s+(http:\/\/\S+)/.exec(line)?.[1] as string;
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await storage?.drop();
  });

  it('applies the migrations from schemas/, accepts an event and serves the docs assets from node_modules', async () => {
    expect(server.find(/migrations applied: 001_initial/)).toBeDefined();
    // A local endpoint module run as a program prints env lines: inside the bundle it must stay a module.
    expect(server.find(/^UPSTASH_REDIS_REST_URL=|^RDS_DATA_ENDPOINT=/)).toBeUndefined();

    const sent = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'purchase', user_id: 'u1', properties: { amount: 12.5 } }),
    });
    const css = await fetch(`${url}/docs/swagger-ui.css`);
    const openapi = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };

    expect(sent.status).toBe(202);
    expect(css.status).toBe(200);
    expect(await css.text()).toContain('.swagger-ui');
    expect(Object.keys(openapi.paths)).toContain('/events/batch');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const status = await server.stop();

    expect(status.code).toBe(0);
  });
});
