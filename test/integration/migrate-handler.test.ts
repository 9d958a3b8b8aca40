// The migrate Lambda's handler against a Data API that first answers "not yet" the way the service
// does (status 400, x-amzn-errortype, JSON message), then the repo's Data API endpoint over a fresh
// Postgres database: the SDK parses real error responses and the handler waits them out.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../lambdas/migrate/handler.ts';
import { startDataApiServer } from '../../scripts/local-endpoints/data-api.ts';
import { createTestDatabase, type TestDatabase } from '../support/services.ts';

interface NotReadyFront {
  readonly url: string;
  /** Error answers still to give, in order; each request takes the next one until none are left. */
  errors: { type: string; message: string }[];
  served: string[];
  close(): Promise<void>;
}

/** Answers queued errors like the Data API does, and forwards every other request to `target`. */
async function startNotReadyFront(target: string): Promise<NotReadyFront> {
  const front: Omit<NotReadyFront, 'url' | 'close'> = { errors: [], served: [] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const error = front.errors.shift();
    if (error) {
      front.served.push(error.type);
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': error.type });
      res.end(JSON.stringify({ message: error.message }));
      return;
    }
    const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(front as NotReadyFront, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

describe('migrate handler on a Data API that is not ready yet', () => {
  let db: TestDatabase;
  let closeDataApi: () => Promise<void>;
  let front: NotReadyFront;
  const saved = { ...process.env };

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    const dataApi = await startDataApiServer({ databaseUrl: db.url, port: 0 });
    closeDataApi = () => dataApi.close();
    front = await startNotReadyFront(dataApi.url);
    Object.assign(process.env, {
      SQL_DRIVER: 'data-api',
      RDS_DATA_ENDPOINT: front.url,
      DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:000000000000:cluster:migrate-test',
      DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:migrate-test',
      DB_NAME: db.name,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
  });

  afterAll(async () => {
    process.env = saved;
    await front?.close();
    await closeDataApi?.();
    await db?.drop();
  });

  const lambdaContext = { getRemainingTimeInMillis: () => 300_000 };

  it('waits out a resuming cluster and a "Communications link failure", then applies the schema', async () => {
    front.errors = [
      {
        type: 'DatabaseResumingException',
        message: 'The Aurora DB instance db-TEST is resuming after being auto-paused. Please wait a few seconds and try again.',
      },
      {
        type: 'BadRequestException',
        message:
          'Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.',
      },
    ];
    front.served = [];
    const result = await handler(undefined, lambdaContext);
    expect(front.served).toEqual(['DatabaseResumingException', 'BadRequestException']);
    expect(result.applied.length).toBeGreaterThan(0);
    // Up to date now: a second run applies nothing.
    expect((await handler(undefined, lambdaContext)).applied).toEqual([]);
  }, 30_000);

  it('fails at once on a SQL error (a SQLSTATE outside the transient classes)', async () => {
    front.errors = [{ type: 'BadRequestException', message: 'ERROR: permission denied for schema public; SQLState: 42501' }];
    front.served = [];
    await expect(handler(undefined, lambdaContext)).rejects.toThrow(/permission denied/);
    expect(front.served).toEqual(['BadRequestException']);
    expect(front.errors).toEqual([]);
  });
});
