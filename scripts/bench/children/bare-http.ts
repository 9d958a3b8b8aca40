// Child process of the bench: the HTTP ceiling. A bare node:http server that reads each request body and answers
// 202 with a small JSON body, nothing else; prints its URL as one line. Runs on plain `node` until stdin closes.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const REPLY = JSON.stringify({ event_id: '00000000-0000-7000-8000-000000000000', status: 'accepted' });
const server = createServer((request, response) => {
  request.on('data', () => {});
  request.on('end', () => {
    response.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) });
    response.end(REPLY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
