// Starts `npm start`'s server (scripts/start.ts bundled as `npm start` builds it, on plain node) as a child process
// on this run's database and a stream key of its own; stopped by the run's cleanup with SIGTERM, as Ctrl-C stops it.
import { join } from 'node:path';
import { buildStartBundle, START_NODE_FLAGS } from '../../build/start-bundle.ts';
import type { BenchRun } from '../context.ts';
import { type StartedChild, startChild } from './http-load.ts';

/** The bench's own build (two folders below the root, like dist/start/), so a running `npm start` is untouched. */
const BUNDLE_DIR = new URL('../../../dist/bench-start/', import.meta.url).pathname;
let built: Promise<void> | undefined;

export async function startLocalServer(
  run: BenchRun,
  streamKey: string,
  mode: 'all' | 'api-only' | 'consumer-only',
  env: Record<string, string> = {},
): Promise<StartedChild> {
  built ??= buildStartBundle(BUNDLE_DIR);
  await built;
  const args = [...START_NODE_FLAGS, join(BUNDLE_DIR, 'start.mjs'), ...(mode === 'all' ? [] : [`--${mode}`])];
  return startChild(
    run,
    args,
    {
      ...process.env,
      SQL_DRIVER: 'pg',
      STREAM_DRIVER: 'ioredis',
      DATABASE_URL: run.databaseUrl,
      REDIS_URL: run.redisUrl,
      STREAM_KEY: streamKey,
      PORT: '0',
      ...env,
    },
    mode === 'consumer-only' ? /(EventFlow consumer running)/ : /API\s+(http:\/\/\S+)/,
  );
}
