// Starts `npm start`'s entry (scripts/start.ts, what `npm start` runs under tsx) as a child process on this run's
// database and a stream key of its own; stopped by the run's cleanup with SIGTERM, as Ctrl-C stops it.
import type { BenchRun } from '../context.ts';
import { type StartedChild, startChild } from './http-load.ts';

const START = new URL('../../start.ts', import.meta.url).pathname;

export function startLocalServer(
  run: BenchRun,
  streamKey: string,
  mode: 'all' | 'api-only' | 'consumer-only',
  env: Record<string, string> = {},
): Promise<StartedChild> {
  const args = ['--import', import.meta.resolve('tsx'), START, ...(mode === 'all' ? [] : [`--${mode}`])];
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
