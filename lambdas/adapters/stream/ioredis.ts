// EventStream over ioredis (TCP): local Redis, ElastiCache/Valkey, Upstash over TLS.
// Uses RESP2 so replies have the shapes replies.ts parses; never blocks a connection shared with writes.
import { Redis } from 'ioredis';
import type { EventStream } from '../../ports.ts';
import { classifyRedisError } from './classify-redis.ts';
import { createCommandStream } from './command-stream.ts';

export interface IoredisStreamOptions {
  readonly url: string;
  readonly streamKey: string;
  readonly group: string;
  /** Longest BLOCK this adapter will be asked for; command timeouts are set above it. */
  readonly maxBlockMs?: number;
}

export function createIoredisStream(options: IoredisStreamOptions): EventStream {
  const redis = new Redis(options.url, {
    protocol: 2,
    lazyConnect: false,
    connectTimeout: 3000,
    // A client that never blocks (the API's) gives up quickly, so a Redis outage costs a request
    // ~1.5 s, not the reconnect cycle; a blocking reader waits out its BLOCK first.
    commandTimeout: options.maxBlockMs ? options.maxBlockMs + 5000 : 1500,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Connection errors surface on the command that needed the connection; don't crash on the event.
  redis.on('error', () => {});

  return createCommandStream(
    {
      canBlock: true,
      async call([command, ...args]) {
        try {
          return await redis.call(command, ...args);
        } catch (error) {
          throw classifyRedisError(error);
        }
      },
      async pipeline(commands) {
        const pipeline = redis.pipeline();
        for (const [command, ...args] of commands) pipeline.call(command, ...args);
        let results: [Error | null, unknown][] | null;
        try {
          results = await pipeline.exec();
        } catch (error) {
          throw classifyRedisError(error);
        }
        return (results ?? []).map(([error, value]) => {
          if (error) throw classifyRedisError(error);
          return value;
        });
      },
      async close() {
        redis.disconnect();
      },
    },
    { streamKey: options.streamKey, group: options.group },
  );
}
