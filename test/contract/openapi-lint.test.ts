// `redocly lint` on the document GET /openapi.json serves: zero errors and zero warnings under the
// recommended rules. Offline: local config, telemetry and the update check off.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createIngestApp } from '../../lambdas/ingest/app.ts';
import { createQuietLogger } from '../../lambdas/observability/logger.ts';
import { createPrometheusMetrics } from '../../lambdas/observability/prometheus-metrics.ts';
import { REPO_ROOT } from '../support/child-processes.ts';
import { apiRequest, lambdaContext } from '../support/events.ts';

const dir = mkdtempSync(join(tmpdir(), 'eventflow-openapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('passes redocly lint (recommended rules) with no error and no warning', async () => {
  // GET /openapi.json touches no store: the app needs no database or stream to answer it.
  const app = createIngestApp({ logger: createQuietLogger().logger, metrics: createPrometheusMetrics() } as never);
  const response = await app(apiRequest('GET', '/openapi.json'), lambdaContext());
  expect(response.statusCode).toBe(200);
  const file = join(dir, 'openapi.json');
  writeFileSync(file, response.body);

  const lint = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/@redocly/cli/bin/cli.js'),
      'lint',
      '--config',
      join(REPO_ROOT, 'test/contract/redocly.yaml'),
      '--format',
      'stylish',
      file,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      timeout: 120_000,
    },
  );
  const output = `${lint.stdout}\n${lint.stderr}`;
  expect(output, output).toMatch(/valid/i);
  expect(output).not.toMatch(/\d+ (error|warning)s?\b/i);
  expect(lint.status, output).toBe(0);
}, 150_000);
