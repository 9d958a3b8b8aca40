// The operator scripts against a real local server: `monitor --once` reads health and backlog, `load-test` sends,
// waits for the drain and reports. Each stack has its own database and stream key, dropped afterwards.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../scripts/lib/local-stack.ts';
import { freePort } from '../support/child-processes.ts';
import { createTestDatabase, TEST_REDIS_URL, uniqueName } from '../support/services.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ScriptRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node --import tsx <script> …args` from the repository root, with only what node needs from our env. */
function runScript(script: string, args: readonly string[], timeoutMs = 30_000): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG'])
      if (process.env[name] !== undefined) env[name] = process.env[name] as string;
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The pipeline on its own database and stream key, API on a free port. */
async function startStack(options: { consumer: boolean }) {
  const db = await createTestDatabase({ migrate: false });
  const streamKey = uniqueName('events');
  const stack: LocalStack = await startLocalStack({
    env: {
      SQL_DRIVER: 'pg',
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      STREAM_KEY: streamKey,
      PORT: '0',
      // Short blocking reads so stop() does not wait out a long BLOCK.
      BLOCK_MS: '200',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    },
    consumer: options.consumer,
    log: () => {},
  });
  return {
    stack,
    async stop() {
      await stack.stop();
      const redis = new Redis(TEST_REDIS_URL);
      await redis.del(streamKey, `${streamKey}:errors`);
      redis.disconnect();
      await db.drop();
    },
  };
}

describe('npm run monitor -- --once', () => {
  let running: Awaited<ReturnType<typeof startStack>>;

  beforeAll(async () => {
    running = await startStack({ consumer: false });
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('prints one line with dependency health and the backlog, and exits 0 when healthy', async () => {
    const run = await runScript('scripts/monitor.ts', ['--once', '--url', running.stack.url]);

    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}ok {2}database up \d+ ms {2}stream up \d+ ms {2}/);
    expect(lines[0]).toContain('length 0');
    expect(lines[0]).toContain('lag 0');
    expect(lines[0]).toContain('pending 0');
    expect(lines[0]).toContain('queue_depth 0');
    expect(lines[0]).toContain('oldest_pending -');
    expect(lines[0]).toMatch(/consumers \d+/);
  });

  it('says how to start the server and exits 1 when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;

    const run = await runScript('scripts/monitor.ts', ['--once', '--url', url]);

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('unreachable');
    expect(run.stdout).toContain('npm start');
  });

  it('exits 2 with the usage on a bad argument', async () => {
    const run = await runScript('scripts/monitor.ts', ['--interval', 'soon']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--interval must be');
    expect(run.stderr).toContain('Usage: npm run monitor');
  });
});

describe('npm run load-test', () => {
  let running: Awaited<ReturnType<typeof startStack>>;

  beforeAll(async () => {
    running = await startStack({ consumer: true });
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('sends at the rate, waits until the backlog drained and reports latency, completion and the sample outcomes', async () => {
    const run = await runScript('scripts/load-test.ts', [
      '--events',
      '30',
      '--rate',
      '200',
      '--url',
      running.stack.url,
      '--seed',
      '7',
      '--timeout-s',
      '20',
    ]);

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/sent +30 events/);
    expect(run.stdout).toMatch(/accepted +30 events/);
    expect(run.stdout).toMatch(/rejected +0 events/);
    expect(run.stdout).toMatch(/API latency +p50 [\d.]+ ms {2}p95 [\d.]+ ms {2}p99 [\d.]+ ms/);
    expect(run.stdout).toMatch(/completed +[\d.]+ s from the first send to an empty queue/);
    expect(run.stdout).toMatch(/throughput +[\d.,]+ ev\/s/);
    expect(run.stdout).toMatch(/sample +30 of 30 accepted: processed 30, failed 0, still accepted 0, not found 0/);
  });

  it('counts refused events apart and follows dead-lettered ones to "failed"', async () => {
    const run = await runScript('scripts/load-test.ts', [
      '--events',
      '40',
      '--rate',
      '400',
      '--batch',
      '1',
      '--invalid',
      '1',
      '--url',
      running.stack.url,
      '--seed',
      '11',
      '--timeout-s',
      '20',
    ]);

    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const accepted = Number(/accepted +(\d+) events/.exec(run.stdout)?.[1]);
    const rejected = Number(/rejected +(\d+) events/.exec(run.stdout)?.[1]);
    expect(accepted + rejected).toBe(40);
    expect(rejected).toBeGreaterThan(0);
    expect(run.stdout).toMatch(new RegExp(`sample +${accepted} of ${accepted} accepted: processed 0, failed ${accepted},`));
  });

  it('fails in one line, naming `npm start`, when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;

    const run = await runScript('scripts/load-test.ts', ['--events', '5', '--url', url]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('npm start');
  });
});
