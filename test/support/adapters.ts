// The adapter combinations the pipeline runs on, opened over the real local Postgres and Redis:
// "local" (pg + ioredis) and "serverless" (RDS Data API + Upstash REST through the local endpoints).
import { createDataApiExecutor } from '../../lambdas/adapters/sql/data-api.ts';
import { createPgExecutor } from '../../lambdas/adapters/sql/pg.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { createUpstashStream } from '../../lambdas/adapters/stream/upstash.ts';
import type { EventStream, SqlExecutor } from '../../lambdas/ports.ts';
import { startDataApiServer } from '../../scripts/local-endpoints/data-api.ts';
import { startUpstashRestServer } from '../../scripts/local-endpoints/upstash-rest.ts';
import { TEST_REDIS_URL } from './services.ts';

export type Combination = 'pg+ioredis' | 'data-api+upstash';
export const COMBINATIONS: Combination[] = ['pg+ioredis', 'data-api+upstash'];

export interface OpenAdapters {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  close(): Promise<void>;
}

export async function openAdapters(combination: Combination, databaseUrl: string, streamKey: string): Promise<OpenAdapters> {
  if (combination === 'pg+ioredis') {
    const sql = createPgExecutor({ connectionString: databaseUrl });
    const stream = createIoredisStream({ url: TEST_REDIS_URL, streamKey, group: 'workers' });
    return { sql, stream, close: async () => void (await Promise.all([sql.close(), stream.close()])) };
  }
  const dataApi = await startDataApiServer({ databaseUrl, port: 0 });
  const upstash = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: 'test-token', port: 0 });
  const database = new URL(databaseUrl).pathname.slice(1);
  const sql = createDataApiExecutor({
    resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:eventflow-test',
    secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:eventflow-test',
    database,
    endpoint: dataApi.url,
    region: 'us-east-1',
  });
  const stream = createUpstashStream({ url: upstash.url, token: upstash.token, streamKey, group: 'workers' });
  return {
    sql,
    stream,
    close: async () => {
      await Promise.all([sql.close(), stream.close()]);
      await Promise.all([dataApi.close(), upstash.close()]);
    },
  };
}
