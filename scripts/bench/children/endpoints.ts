// Child process of the bench: the local Data API, Upstash REST and SQS endpoints, their URLs as one JSON line on
// stdout; then answers each "counts" line on stdin with one JSON line of request counters (lib/counters.ts), and
// closes when the parent closes stdin (or dies). Run with `node --import tsx`; never measures time itself.
import { createInterface } from 'node:readline';
import { startDataApiServer } from '../../local-endpoints/data-api.ts';
import { startLocalSqs } from '../../local-endpoints/sqs.ts';
import { startUpstashRestServer } from '../../local-endpoints/upstash-rest.ts';
import { installCounters, snapshotCounts } from '../lib/counters.ts';

const databaseUrl = process.env.EF_DATABASE_URL;
const redisUrl = process.env.EF_REDIS_URL;
const token = process.env.EF_TOKEN;
if (!databaseUrl || !redisUrl || !token) throw new Error('EF_DATABASE_URL, EF_REDIS_URL and EF_TOKEN are required');

installCounters();
const dataApi = await startDataApiServer({ databaseUrl, port: 0 });
const upstash = await startUpstashRestServer({ redisUrl, token, port: 0 });
const queues = [`dlq-${token}`, `fallback-${token}`];
const sqs = await startLocalSqs({ port: 0, queues });
process.stdout.write(
  `${JSON.stringify({
    dataApi: dataApi.url,
    upstash: upstash.url,
    token: upstash.token,
    sqs: sqs.endpoint,
    dlqUrl: sqs.queueUrls[queues[0] as string],
    fallbackUrl: sqs.queueUrls[queues[1] as string],
  })}\n`,
);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'counts') process.stdout.write(`${JSON.stringify(snapshotCounts())}\n`);
});
lines.on('close', () => {
  void Promise.all([dataApi.close(), upstash.close(), sqs.close()]).finally(() => process.exit(0));
});
