// Child process of the bench: the local Data API and Upstash REST endpoints, their URLs as one JSON line on stdout,
// closed when the parent closes stdin (or dies). Run with `node --import tsx`; never measures anything itself.
import { startDataApiServer } from '../../local-endpoints/data-api.ts';
import { startUpstashRestServer } from '../../local-endpoints/upstash-rest.ts';

const databaseUrl = process.env.EF_DATABASE_URL;
const redisUrl = process.env.EF_REDIS_URL;
const token = process.env.EF_TOKEN;
if (!databaseUrl || !redisUrl || !token) throw new Error('EF_DATABASE_URL, EF_REDIS_URL and EF_TOKEN are required');

const dataApi = await startDataApiServer({ databaseUrl, port: 0 });
const upstash = await startUpstashRestServer({ redisUrl, token, port: 0 });
process.stdout.write(`${JSON.stringify({ dataApi: dataApi.url, upstash: upstash.url, token: upstash.token })}\n`);
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  void Promise.all([dataApi.close(), upstash.close()]).finally(() => process.exit(0));
});
