// EventStream over ioredis (TCP): local Redis, ElastiCache/Valkey, Upstash over TLS.
// Uses RESP2 so replies have the shapes replies.ts parses; never blocks a connection shared with writes.
import { Redis } from 'ioredis';
import type { EventStream } from '../../ports.ts';
import { classifyRedisError } from './classify-redis.ts';
import { noteMethods, parseEntries, parsePending, parseReadGroup, parseStats } from './replies.ts';

export interface IoredisStreamOptions {
  readonly url: string;
  readonly streamKey: string;
  readonly group: string;
  /** Longest BLOCK this adapter will be asked for; command timeouts are set above it. */
  readonly maxBlockMs?: number;
}

export function createIoredisStream(options: IoredisStreamOptions): EventStream {
  const { streamKey: key, group } = options;
  const redis = new Redis(options.url, {
    protocol: 2,
    lazyConnect: false,
    connectTimeout: 3000,
    commandTimeout: Math.max(5000, (options.maxBlockMs ?? 0) + 5000),
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Connection errors surface on the command that needed the connection; don't crash on the event.
  redis.on('error', () => {});

  async function call(command: string, ...args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.call(command, ...args);
    } catch (error) {
      throw classifyRedisError(error);
    }
  }

  return {
    async ensureGroup() {
      try {
        await call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM');
      } catch (error) {
        if (!/BUSYGROUP/.test(String((error as Error).message))) throw error;
      }
    },
    async add(data) {
      if (data.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const item of data) pipeline.call('XADD', key, '*', 'data', item);
      let results: [Error | null, unknown][] | null;
      try {
        results = await pipeline.exec();
      } catch (error) {
        throw classifyRedisError(error);
      }
      return (results ?? []).map(([error, id]) => {
        if (error) throw classifyRedisError(error);
        return String(id);
      });
    },
    async readNew(consumer, { count, blockMs }) {
      const block = blockMs && blockMs > 0 ? ['BLOCK', blockMs] : [];
      const reply = await call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, ...block, 'STREAMS', key, '>');
      return parseReadGroup(reply);
    },
    async pending({ minIdleMs, count }) {
      return parsePending(await call('XPENDING', key, group, 'IDLE', Math.max(0, Math.floor(minIdleMs)), '-', '+', count));
    },
    async claim(consumer, ids, minIdleMs) {
      if (ids.length === 0) return [];
      return parseEntries(await call('XCLAIM', key, group, consumer, Math.max(0, Math.floor(minIdleMs)), ...ids));
    },
    async ack(ids) {
      if (ids.length === 0) return 0;
      return Number(await call('XACK', key, group, ...ids));
    },
    async trimBefore(id) {
      return Number(await call('XTRIM', key, 'MINID', '~', id));
    },
    async stats() {
      const pipeline = redis.pipeline();
      pipeline.call('XLEN', key);
      pipeline.call('XPENDING', key, group);
      pipeline.call('XINFO', 'GROUPS', key);
      let results: [Error | null, unknown][] | null;
      try {
        results = await pipeline.exec();
      } catch (error) {
        throw classifyRedisError(error);
      }
      const [length, summary, groups] = (results ?? []).map(([error, value]) => {
        if (error) throw classifyRedisError(error);
        return value;
      });
      return parseStats(length, summary, groups, group);
    },
    ...noteMethods(call, key),
    async close() {
      redis.disconnect();
    },
  };
}
