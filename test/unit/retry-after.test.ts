// The producer and load test obey Retry-After: a 429 or 503 that says when to come back is resent then,
// with the same events; a wait past the cap, or other statuses, are final answers.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendObeyingRetryAfter } from '../../scripts/lib/event-sender.ts';
import { requestJson } from '../../scripts/lib/http-client.ts';

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A local server answering with the given [status, retry-after] in turn, recording each body. */
async function serve(answers: Array<[number, string | null]>) {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      bodies.push(body);
      const [status, retryAfter] = answers[Math.min(bodies.length - 1, answers.length - 1)] ?? [500, null];
      response.writeHead(status, { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
      response.end(JSON.stringify({ status }));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const send = () => requestJson(url, { method: 'POST', body: { event_id: 'e-1' }, userAgent: 'test', timeoutMs: 5000 });
  return { bodies, send };
}

describe('sendObeyingRetryAfter', () => {
  it('waits as told after a 429 and resends the same body until accepted', async () => {
    const server = await serve([
      [429, '0'],
      [503, '0'],
      [202, null],
    ]);
    const reply = await sendObeyingRetryAfter(server.send);
    expect(reply.status).toBe(202);
    expect(server.bodies).toEqual(Array(3).fill('{"event_id":"e-1"}'));
  });

  it('takes a 429 without Retry-After, or one asking for more than a minute, as final', async () => {
    const bare = await serve([[429, null]]);
    expect((await sendObeyingRetryAfter(bare.send)).status).toBe(429);
    expect(bare.bodies).toHaveLength(1);
    const long = await serve([[429, '3600']]);
    expect((await sendObeyingRetryAfter(long.send)).status).toBe(429);
    expect(long.bodies).toHaveLength(1);
  });

  it('gives up after five tries', async () => {
    const busy = await serve([[429, '0']]);
    expect((await sendObeyingRetryAfter(busy.send)).status).toBe(429);
    expect(busy.bodies).toHaveLength(5);
  });
});
