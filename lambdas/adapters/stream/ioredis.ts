// EventStream over ioredis (TCP): local Redis, ElastiCache/Valkey, Upstash over TLS.
// Uses RESP2 so replies have the shapes replies.ts parses; never blocks a connection shared with writes.
import { Command, type Pipeline, Redis } from 'ioredis';
import type { EventStream } from '../../ports.ts';
import { callTimeoutMs } from '../deadline.ts';
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
  // A client that never blocks (the API's) gives up quickly, so a Redis outage costs a request
  // ~1.5 s, not the reconnect cycle; a blocking reader waits out its BLOCK first.
  const commandTimeoutMs = options.maxBlockMs ? options.maxBlockMs + 5000 : 1500;
  const redis = new Redis(options.url, {
    protocol: 2,
    lazyConnect: false,
    connectTimeout: 3000,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  /**
   * A command whose timer runs from now for the timeout, or less when the invocation's deadline is
   * nearer (lambdas/adapters/deadline.ts). ioredis keeps a timer already set, so the client-wide one does not
   * replace it; a late reply is discarded by ioredis.
   */
  const command = (name: string, args: readonly (string | number)[]): Command => {
    const timed = new Command(name, [...args], { replyEncoding: 'utf8' });
    timed.setTimeout(callTimeoutMs(commandTimeoutMs));
    return timed;
  };
  // Connection errors surface on the command that needed the connection; don't crash on the event.
  redis.on('error', () => {});
  /**
   * A command that timed out leaves the connection in doubt (a half-open socket after a failover or a
   * NAT timeout answers nothing, or late): start a fresh one rather than queue behind it.
   */
  const classified = (error: unknown) => {
    if (/Command timed out/i.test(String((error as Error | undefined)?.message))) redis.disconnect(true);
    return classifyRedisError(error);
  };

  return createCommandStream(
    {
      canBlock: true,
      async call([name, ...args]) {
        try {
          const sent = command(name, args);
          redis.sendCommand(sent);
          return await sent.promise;
        } catch (error) {
          throw classified(error);
        }
      },
      async pipeline(commands) {
        // The typed chain hides sendCommand, which the Pipeline class has: it queues a prepared command.
        const pipeline = redis.pipeline() as unknown as Pipeline;
        for (const [name, ...args] of commands) pipeline.sendCommand(command(name, args));
        let results: [Error | null, unknown][] | null;
        try {
          results = await pipeline.exec();
        } catch (error) {
          throw classified(error);
        }
        return (results ?? []).map(([error, value]) => {
          if (error) throw classified(error);
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
