// Request counters for the cost figures: SQL statements sent by any pg client, Redis commands sent by any ioredis
// client (pipelined ones each count, as Upstash bills them), and HTTP requests received by any node:http server of
// this process, by path. Installed by patching the prototypes once; bench-only, never in lambdas/.
import { Server } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';

export interface Counts {
  sqlStatements: number;
  redisCommands: number;
  /** HTTP requests received, by "METHOD /path" (the Data API's /Execute, Upstash's /pipeline, SQS's /). */
  httpRequests: Record<string, number>;
}

const counts: Counts = { sqlStatements: 0, redisCommands: 0, httpRequests: {} };
let installed = false;

export function installCounters(): void {
  if (installed) return;
  installed = true;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    counts.sqlStatements++;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const sendCommand = Redis.prototype.sendCommand as (...args: unknown[]) => unknown;
  Redis.prototype.sendCommand = function countedCommand(this: Redis, ...args: unknown[]) {
    counts.redisCommands++;
    return sendCommand.apply(this, args);
  } as typeof Redis.prototype.sendCommand;
  const emit = Server.prototype.emit as (event: string | symbol, ...args: unknown[]) => boolean;
  Server.prototype.emit = function countedEmit(this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const request = args[0] as { method?: string; url?: string; headers: Record<string, unknown> };
      // SQS's JSON protocol posts everything to "/" and names the action in a header.
      const target = typeof request.headers['x-amz-target'] === 'string' ? ` ${request.headers['x-amz-target']}` : '';
      const name = `${request.method} ${(request.url ?? '/').split('?')[0]}${target}`;
      counts.httpRequests[name] = (counts.httpRequests[name] ?? 0) + 1;
    }
    return emit.call(this, event, ...args);
  } as typeof Server.prototype.emit;
}

export function snapshotCounts(): Counts {
  return { ...counts, httpRequests: { ...counts.httpRequests } };
}

/** after − before, field by field. */
export function countsSince(before: Counts, after: Counts = snapshotCounts()): Counts {
  const httpRequests: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.httpRequests)) {
    const delta = n - (before.httpRequests[name] ?? 0);
    if (delta > 0) httpRequests[name] = delta;
  }
  return {
    sqlStatements: after.sqlStatements - before.sqlStatements,
    redisCommands: after.redisCommands - before.redisCommands,
    httpRequests,
  };
}
