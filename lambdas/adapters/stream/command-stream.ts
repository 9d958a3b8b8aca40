// The EventStream as Redis command lines over a transport. Both adapters (ioredis over TCP, Upstash
// over REST) send exactly these commands and parse the same replies; only the transport differs.

import { StreamGroupMissingError } from '../../errors.ts';
import type { ErrorRecord, EventStream } from '../../ports.ts';
import { callTimeoutMs } from '../deadline.ts';
import {
  errorNotesKey,
  parseConsumers,
  parseEntries,
  parseErrorNotes,
  parsePending,
  parseReadGroup,
  parseStats,
} from './replies.ts';

export type Command = [name: string, ...args: (string | number)[]];

/** Time between the end of a BLOCK and the end of the command's allowed time. */
const BLOCK_SLACK_MS = 1000;

/**
 * Most entries counted when XINFO GROUPS cannot tell the lag: twice QueueLagHigh's default threshold
 * (lib/observability.ts), so the alarm still sees a lag above it; beyond, the count stops there.
 */
export const LAG_COUNT_LIMIT = 20_000;

/**
 * Counts entries after ARGV[1] (exclusive), at most ARGV[2], inside Redis: only the number travels.
 * Redis reports `lag` as null once it cannot derive it from entries-read (an XDEL after the group's
 * position, XGROUP SETID to an arbitrary id), and Upstash may always report null.
 */
const COUNT_AFTER_SCRIPT = `local start = '(' .. ARGV[1]
local limit = tonumber(ARGV[2])
local n = 0
while n < limit do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', math.min(1000, limit - n))
  if #batch == 0 then break end
  n = n + #batch
  start = '(' .. batch[#batch][1]
end
return n`;

/** How commands reach Redis. Errors must already be classified (classify-redis.ts). */
export interface RedisTransport {
  call(command: Command): Promise<unknown>;
  /** Several commands in one round trip; replies in order; throws if any failed. */
  pipeline(commands: readonly Command[]): Promise<unknown[]>;
  /** Whether XREADGROUP may BLOCK (a held TCP connection) or must return at once (REST). */
  readonly canBlock: boolean;
  close(): Promise<void>;
}

/** Idle time given to restored entries: far past any backoff, so the next claim takes them. */
const DUE_IDLE_MS = 365 * 24 * 60 * 60 * 1000;

/** XINFO on a key that does not exist answers "ERR no such key": for the caller, the group is missing. */
function missingKeyAsGroupMissing(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  return /\bno such key\b/i.test(message) ? new StreamGroupMissingError(message, { cause: error }) : error;
}

export function createCommandStream(transport: RedisTransport, options: { streamKey: string; group: string }): EventStream {
  const { streamKey: key, group } = options;
  const notesKey = errorNotesKey(key);
  const call = (...command: Command) => transport.call(command);
  const idle = (ms: number) => Math.max(0, Math.floor(ms));
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
      const ids = await transport.pipeline(data.map((item): Command => ['XADD', key, '*', 'data', item]));
      return ids.map(String);
    },
    async readNew(consumer, { count, blockMs, ack }) {
      // Without a held connection blockMs is ignored on purpose: the read returns at once (see ports.ts).
      // Under an invocation deadline the BLOCK is shortened to end well inside the call's time, so an
      // idle stream answers "nothing new" rather than timing out; BLOCK 0 would mean "forever".
      const waitMs = Math.min(blockMs ?? 0, callTimeoutMs(Number.POSITIVE_INFINITY) - BLOCK_SLACK_MS);
      const block = transport.canBlock && waitMs > 0 ? ['BLOCK', waitMs] : [];
      const read: Command = ['XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, ...block, 'STREAMS', key, '>'];
      if (!ack || ack.length === 0) return parseReadGroup(await transport.call(read));
      // A pipeline, not MULTI: inside MULTI a BLOCK is ignored. Redis runs the XACK before the read blocks.
      const [, entries] = await transport.pipeline([['XACK', key, group, ...ack], read]);
      return parseReadGroup(entries);
    },
    async pending({ minIdleMs, count, consumer }) {
      const only = consumer === undefined ? [] : [consumer];
      return parsePending(await call('XPENDING', key, group, 'IDLE', idle(minIdleMs), '-', '+', count, ...only));
    },
    async claim(consumer, ids, minIdleMs) {
      if (ids.length === 0) return [];
      return parseEntries(await call('XCLAIM', key, group, consumer, idle(minIdleMs), ...ids));
    },
    async restoreDeliveries(consumer, entries) {
      // XCLAIM … RETRYCOUNT n JUSTID sets the delivery counter to exactly n (JUSTID does not add one);
      // IDLE makes the entries due at once. One command per distinct count, in one round trip.
      const byCount = new Map<number, string[]>();
      for (const { id, deliveries } of entries) byCount.set(deliveries, [...(byCount.get(deliveries) ?? []), id]);
      if (byCount.size === 0) return;
      await transport.pipeline(
        [...byCount].map(
          ([deliveries, ids]): Command => [
            'XCLAIM',
            key,
            group,
            consumer,
            0,
            ...ids,
            'IDLE',
            DUE_IDLE_MS,
            'RETRYCOUNT',
            Math.max(0, deliveries),
            'JUSTID',
          ],
        ),
      );
    },
    async takeTurn(name, intervalMs) {
      // SET NX PX: the first caller in each interval, across every process and container, gets the turn.
      return (
        (await call('SET', `${key}:turn:${name}`, String(Date.now()), 'PX', Math.max(1, Math.floor(intervalMs)), 'NX')) !== null
      );
    },
    async ack(ids) {
      if (ids.length === 0) return 0;
      return Number(await call('XACK', key, group, ...ids));
    },
    async trimBefore(id) {
      return Number(await call('XTRIM', key, 'MINID', '~', id));
    },
    async stats(options) {
      // XINFO GROUPS before XPENDING: an entry delivered between the two is after the last-delivered
      // id read first, or shows in the pending summary read second, so a trim threshold computed from
      // the pair never passes an unacknowledged entry (the pipeline is not atomic).
      const [groups, summary, length] = await transport
        .pipeline([
          ['XINFO', 'GROUPS', key],
          ['XPENDING', key, group],
          ['XLEN', key],
        ])
        .catch((error: unknown) => {
          throw missingKeyAsGroupMissing(error);
        });
      const stats = parseStats(length, summary, groups, group);
      if (stats.lag !== null) return stats;
      // Not atomic with the pipeline above: entries added meanwhile count too, which a lag may.
      const after = await call(
        'EVAL',
        COUNT_AFTER_SCRIPT,
        1,
        key,
        stats.lastDeliveredId,
        options?.lagCountLimit ?? LAG_COUNT_LIMIT,
      );
      return { ...stats, lag: Number(after) };
    },
    async length() {
      return Number(await call('XLEN', key));
    },
    async consumers() {
      try {
        return parseConsumers(await call('XINFO', 'CONSUMERS', key, group));
      } catch (error) {
        throw missingKeyAsGroupMissing(error);
      }
    },
    async pruneConsumers({ idleMs, keep }) {
      const stale = parseConsumers(await call('XINFO', 'CONSUMERS', key, group)).filter(
        (c) => c.name !== keep && c.pending === 0 && c.idleMs > idleMs,
      );
      if (stale.length === 0) return 0;
      await transport.pipeline(stale.map((c): Command => ['XGROUP', 'DELCONSUMER', key, group, c.name]));
      return stale.length;
    },
    async noteErrors(errors) {
      if (errors.length === 0) return;
      await call('HSET', notesKey, ...errors.flatMap(({ id, error }) => [id, JSON.stringify(error)]));
    },
    async readErrors(ids) {
      if (ids.length === 0) return new Map();
      return parseErrorNotes<ErrorRecord>(ids, await call('HMGET', notesKey, ...ids));
    },
    async forgetErrors(ids) {
      if (ids.length === 0) return;
      await call('HDEL', notesKey, ...ids);
    },
    async ping() {
      await call('PING');
    },
    close: () => transport.close(),
  };
}
