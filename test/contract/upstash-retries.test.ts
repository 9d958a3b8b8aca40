// The Upstash adapter resends a request whose connection died only when that is safe: an XADD may be
// repeated (processing is idempotent), a read that delivers entries may not (if the first one ran, its
// entries would come back later with a delivery no attempt made).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpstashStream } from '../../lambdas/adapters/stream/upstash.ts';
import { DependencyUnavailableError } from '../../lambdas/errors.ts';

let server: Server;
let url: string;
const received: string[] = [];

beforeAll(async () => {
  // Reads each request, then drops the connection without an answer.
  server = createServer((request) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      received.push(body);
      request.socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const stream = () => createUpstashStream({ url, token: 't', streamKey: 'k', group: 'g' });

describe('Upstash requests whose connection died', () => {
  it('sends a read that delivers entries once, and reports the outage', async () => {
    received.length = 0;
    await expect(stream().readNew('c1', { count: 10 })).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(received).toHaveLength(1);
    expect(received[0]).toContain('XREADGROUP');
  });

  it('resends an XADD (a duplicate entry is harmless)', async () => {
    received.length = 0;
    await expect(stream().add(['x'])).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(received).toHaveLength(3);
  });
});
