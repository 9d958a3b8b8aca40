// The EventStream port's specification, run unchanged against every adapter on the real local Redis
// (Upstash REST over fetch through the local REST endpoint). Never mocks Redis; every test owns its stream key.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LAG_COUNT_LIMIT } from '../../lambdas/adapters/stream/command-stream.ts';
import { createIoredisStream } from '../../lambdas/adapters/stream/ioredis.ts';
import { errorNotesKey } from '../../lambdas/adapters/stream/replies.ts';
import { createUpstashStream } from '../../lambdas/adapters/stream/upstash.ts';
import { ConfigError, DependencyUnavailableError, StreamGroupMissingError } from '../../lambdas/errors.ts';
import type { EventStream } from '../../lambdas/ports.ts';
import { compareStreamIds } from '../../lambdas/shared/stream-ids.ts';
import { startUpstashRestServer, type UpstashRestServer } from '../../scripts/local-endpoints/upstash-rest.ts';
import { TEST_REDIS_URL, uniqueName } from '../support/services.ts';

interface StreamTarget {
  readonly streamKey: string;
  readonly group: string;
}

interface AdapterFactory {
  open(target: StreamTarget): EventStream;
  /** The same adapter pointed at an endpoint nothing listens on. */
  openUnreachable(target: StreamTarget): EventStream;
  stop(): Promise<void>;
}

interface AdapterUnderTest {
  readonly name: string;
  /** TCP adapters honour blockMs; REST adapters cannot block and must return at once. */
  readonly blocks: boolean;
  start(): Promise<AdapterFactory>;
}

const ADAPTERS: AdapterUnderTest[] = [
  {
    name: 'ioredis',
    blocks: true,
    async start() {
      return {
        open: (target) => createIoredisStream({ url: TEST_REDIS_URL, ...target }),
        openUnreachable: (target) => createIoredisStream({ url: 'redis://127.0.0.1:1', ...target }),
        stop: async () => {},
      };
    },
  },
  {
    name: 'Upstash REST (fetch) over the local REST endpoint',
    blocks: false,
    async start() {
      const server = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: uniqueName('token') });
      return {
        open: (target) => createUpstashStream({ url: server.url, token: server.token, ...target }),
        openUnreachable: (target) => createUpstashStream({ url: 'http://127.0.0.1:1', token: 'unused', ...target }),
        stop: () => server.close(),
      };
    },
  },
];

/** Strings that break naive encoders: escaping, SQL, JSON, non-BMP characters, look-alikes of replies. */
const TRICKY_DATA = [
  'plain ascii',
  'héllo wörld · ñ · Ελληνικά · 日本語 · العربية · עברית',
  'astral 🎉 𝄞, joined 👩‍👩‍👧‍👦 🏳️‍🌈, combining e\u0301',
  'quotes "double" \'single\' `back`, backslash \\ and \\n that is not a newline',
  'line1\nline2\r\n\ttabbed\u0000after-nul',
  "'; DROP TABLE processed_events; --",
  "Robert'); DELETE FROM failed_events WHERE '1'='1",
  JSON.stringify({ event: { id: 'e-1', nested: { deep: [1, { k: 'v', n: null, t: true }] } }, ключ: 'значение' }),
  '',
  '   ',
  'OK', // @upstash/redis special-cases this reply
  'T0s=', // valid base64: must not be decoded twice
  '12345',
  'null',
  'true',
  JSON.stringify({ text: 'αβγ 日本 🎉 "q" \\ '.repeat(2048) }), // ~32 K characters
];

/** Resolves to the rejection (or null), so a test can assert on the error and the time it took. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

let admin: Redis;

beforeAll(() => {
  admin = new Redis(TEST_REDIS_URL, { protocol: 2 });
});

afterAll(async () => {
  await admin.quit();
});

async function streamIds(key: string): Promise<string[]> {
  const entries = (await admin.call('XRANGE', key, '-', '+')) as [string, string[]][];
  return entries.map(([id]) => id);
}

/** `lag` of the only group as Redis itself reports it in XINFO GROUPS. */
async function rawGroupLag(key: string): Promise<unknown> {
  const [group] = (await admin.call('XINFO', 'GROUPS', key)) as unknown[][];
  const fields = group ?? [];
  return fields[fields.indexOf('lag') + 1];
}

function describeEventStreamConformance(adapter: AdapterUnderTest): void {
  let factory: AdapterFactory;
  let target: StreamTarget;
  let stream: EventStream;
  const opened: EventStream[] = [];

  function open(openStream: (target: StreamTarget) => EventStream): EventStream {
    const created = openStream(target);
    opened.push(created);
    return created;
  }

  beforeAll(async () => {
    factory = await adapter.start();
  });

  afterAll(async () => {
    await factory?.stop();
  });

  beforeEach(() => {
    target = { streamKey: uniqueName('ef_contract'), group: uniqueName('group') };
    stream = open(factory.open);
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((created) => created.close()));
    await admin.del(target.streamKey, errorNotesKey(target.streamKey));
  });

  describe('ensureGroup', () => {
    it('creates an empty stream and group, and a second call neither fails nor rewinds the group', async () => {
      await stream.ensureGroup();
      await stream.ensureGroup();
      expect(await stream.stats()).toEqual({
        length: 0,
        lag: 0,
        pending: 0,
        oldestPendingId: null,
        lastDeliveredId: '0-0',
        consumers: 0,
      });

      const [id] = await stream.add(['one']);
      expect(await stream.readNew('c1', { count: 10 })).toHaveLength(1);
      await stream.ensureGroup();

      expect(await stream.readNew('c1', { count: 10 })).toEqual([]);
      expect((await stream.stats()).lastDeliveredId).toBe(id);
    });
  });

  describe('add', () => {
    it('returns one new id per item, in order, and stores each item as the entry’s data field', async () => {
      const ids = await stream.add(['first', 'second', 'third']);

      expect(ids).toHaveLength(3);
      expect(compareStreamIds(ids[0] ?? '', ids[1] ?? '')).toBe(-1);
      expect(compareStreamIds(ids[1] ?? '', ids[2] ?? '')).toBe(-1);
      expect(await admin.call('XRANGE', target.streamKey, '-', '+')).toEqual([
        [ids[0], ['data', 'first']],
        [ids[1], ['data', 'second']],
        [ids[2], ['data', 'third']],
      ]);
    });

    it('returns [] and writes nothing for no items', async () => {
      expect(await stream.add([])).toEqual([]);
      expect(await admin.exists(target.streamKey)).toBe(0);
    });
  });

  describe('readNew', () => {
    it('returns every entry with its data exactly as written', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(TRICKY_DATA);

      const entries = await stream.readNew('c1', { count: TRICKY_DATA.length + 10 });

      expect(entries).toEqual(ids.map((id, i) => ({ id, data: TRICKY_DATA[i] })));
    });

    it('returns data: null for an entry written without a data field', async () => {
      await stream.ensureGroup();
      const id = String(await admin.call('XADD', target.streamKey, '*', 'other', 'x'));

      expect(await stream.readNew('c1', { count: 10 })).toEqual([{ id, data: null }]);
    });

    it('returns at most count entries, oldest first, and never hands the group an entry twice', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(['a', 'b', 'c']);

      const first = await stream.readNew('c1', { count: 2 });
      const second = await stream.readNew('c2', { count: 10 });

      expect(first).toEqual([
        { id: ids[0], data: 'a' },
        { id: ids[1], data: 'b' },
      ]);
      expect(second).toEqual([{ id: ids[2], data: 'c' }]);
      expect(await stream.readNew('c1', { count: 10 })).toEqual([]);
    });

    it('with ack, acknowledges those entries in the same call, then returns what is new', async () => {
      await stream.ensureGroup();
      const [a, b] = await stream.add(['a', 'b']);
      await stream.readNew('c1', { count: 2 });
      const [c] = await stream.add(['c']);

      expect(await stream.readNew('c1', { count: 10, ack: [a ?? '', b ?? ''] })).toEqual([{ id: c, data: 'c' }]);

      expect((await stream.pending({ minIdleMs: 0, count: 10 })).map((entry) => entry.id)).toEqual([c]);
    });

    it('with ack and nothing new, acknowledges before the read waits for new entries', async () => {
      await stream.ensureGroup();
      const [a] = await stream.add(['a']);
      await stream.readNew('c1', { count: 1 });
      let returned = false;

      const reading = stream.readNew('c1', { count: 10, blockMs: 600, ack: [a ?? ''] }).finally(() => {
        returned = true;
      });
      let pending = 1;
      while (pending > 0 && !returned) pending = ((await admin.call('XPENDING', target.streamKey, target.group)) as [number])[0];

      expect({ pending, returnedFirst: adapter.blocks && returned }).toEqual({ pending: 0, returnedFirst: false });
      expect(await reading).toEqual([]);
    });

    it('returns [] when nothing new has arrived', async () => {
      await stream.ensureGroup();

      expect(await stream.readNew('c1', { count: 10 })).toEqual([]);
    });

    it(
      adapter.blocks
        ? 'waits up to blockMs for new entries before returning []'
        : 'ignores blockMs (REST cannot block) and returns [] at once',
      async () => {
        await stream.ensureGroup();
        const started = Date.now();

        expect(await stream.readNew('c1', { count: 10, blockMs: 600 })).toEqual([]);

        const elapsed = Date.now() - started;
        if (adapter.blocks) expect(elapsed).toBeGreaterThanOrEqual(500);
        else expect(elapsed).toBeLessThan(500);
      },
    );

    it('rejects with StreamGroupMissingError, not DependencyUnavailableError, when the group does not exist', async () => {
      await stream.add(['orphan']);

      const error = await rejectionOf(stream.readNew('c1', { count: 10 }));

      expect(error).toBeInstanceOf(StreamGroupMissingError);
      expect(error).not.toBeInstanceOf(DependencyUnavailableError);
      expect((error as Error).message).toMatch(/NOGROUP/);
    });

    it('rejects with StreamGroupMissingError when the read carries acks (one pipeline) and the group is gone', async () => {
      await stream.add(['orphan']);

      const error = await rejectionOf(stream.readNew('c1', { count: 10, ack: ['1-0'] }));

      expect(error).toBeInstanceOf(StreamGroupMissingError);
      expect((error as Error).message).toMatch(/^NOGROUP/);
    });
  });

  describe('pending', () => {
    it('lists delivered, unacknowledged entries oldest first with consumer, idle time and deliveries', async () => {
      await stream.ensureGroup();
      const [a, b] = await stream.add(['a', 'b']);
      await stream.readNew('c1', { count: 1 });
      await sleep(300);
      await stream.readNew('c2', { count: 1 });

      const pending = await stream.pending({ minIdleMs: 0, count: 10 });

      expect(pending.map(({ id, consumer, deliveries }) => ({ id, consumer, deliveries }))).toEqual([
        { id: a, consumer: 'c1', deliveries: 1 },
        { id: b, consumer: 'c2', deliveries: 1 },
      ]);
      expect(pending[0]?.idleMs).toBeGreaterThanOrEqual(250);
      expect(pending[1]?.idleMs).toBeLessThan(250);
    });

    it('leaves out entries idle for less than minIdleMs and returns at most count', async () => {
      await stream.ensureGroup();
      const [a] = await stream.add(['a', 'b', 'c']);
      await stream.readNew('c1', { count: 1 });
      await sleep(300);
      await stream.readNew('c1', { count: 2 });

      expect((await stream.pending({ minIdleMs: 250, count: 10 })).map((entry) => entry.id)).toEqual([a]);
      expect((await stream.pending({ minIdleMs: 0, count: 1 })).map((entry) => entry.id)).toEqual([a]);
      expect(await stream.pending({ minIdleMs: 60_000, count: 10 })).toEqual([]);
    });
  });

  describe('claim', () => {
    it('moves idle entries to the claiming consumer with their data and counts the new delivery', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(['a', 'b']);
      await stream.readNew('c1', { count: 10 });
      await sleep(150);

      const claimed = await stream.claim('c2', ids, 100);

      expect(claimed).toEqual([
        { id: ids[0], data: 'a' },
        { id: ids[1], data: 'b' },
      ]);
      const pending = await stream.pending({ minIdleMs: 0, count: 10 });
      expect(pending.map(({ id, consumer, deliveries }) => ({ id, consumer, deliveries }))).toEqual([
        { id: ids[0], consumer: 'c2', deliveries: 2 },
        { id: ids[1], consumer: 'c2', deliveries: 2 },
      ]);
    });

    it('does not return or take entries idle for less than minIdleMs', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(['a']);
      await stream.readNew('c1', { count: 10 });

      expect(await stream.claim('c2', ids, 60_000)).toEqual([]);

      const [entry] = await stream.pending({ minIdleMs: 0, count: 10 });
      expect(entry).toMatchObject({ id: ids[0], consumer: 'c1', deliveries: 1 });
    });

    it('returns [] for no ids', async () => {
      await stream.ensureGroup();

      expect(await stream.claim('c2', [], 0)).toEqual([]);
    });
  });

  describe('ack', () => {
    it('returns how many entries it acknowledged and removes them from pending', async () => {
      await stream.ensureGroup();
      const [a, b, c] = await stream.add(['a', 'b', 'c']);
      await stream.readNew('c1', { count: 10 });

      expect(await stream.ack([a ?? '', b ?? '', '0-1'])).toBe(2);
      expect(await stream.ack([a ?? '', b ?? ''])).toBe(0);
      expect(await stream.ack([])).toBe(0);
      expect((await stream.pending({ minIdleMs: 0, count: 10 })).map((entry) => entry.id)).toEqual([c]);
    });
  });

  describe('pruneConsumers', () => {
    it('removes consumers idle past the limit with nothing pending, never the kept one or one with pending entries', async () => {
      await stream.ensureGroup();
      await stream.add(['a', 'b', 'c', 'd']);
      await stream.readNew('busy', { count: 1 }); // keeps its entry pending
      for (const name of ['idle-1', 'idle-2', 'me']) {
        const [entry] = await stream.readNew(name, { count: 1 }); // a consumer exists once it was given an entry
        await stream.ack([entry?.id ?? '']);
      }
      await sleep(30);

      expect(await stream.pruneConsumers({ idleMs: 60_000, keep: 'me' })).toBe(0);
      expect(await stream.pruneConsumers({ idleMs: 10, keep: 'me' })).toBe(2);
      const names = ((await admin.xinfo('CONSUMERS', target.streamKey, target.group)) as unknown[][]).map((c) => String(c[1]));
      expect(names.sort()).toEqual(['busy', 'me']);
    });
  });

  describe('stats', () => {
    it('reports length, lag, pending, oldest pending id, last delivered id and consumers', async () => {
      await stream.ensureGroup();
      const [a, b] = await stream.add(['a', 'b', 'c']);
      await stream.readNew('c1', { count: 2 });
      await stream.ack([a ?? '']);

      expect(await stream.stats()).toEqual({
        length: 3,
        lag: 1,
        pending: 1,
        oldestPendingId: b,
        lastDeliveredId: b,
        consumers: 1,
      });
    });

    // Redis reports lag null when entries-read cannot be trusted; reporting that as 0 kept QueueLagHigh quiet.
    it('counts the lag itself when Redis reports it as null (an entry deleted after the group position)', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(['a', 'b', 'c', 'd', 'e']);
      await admin.xdel(target.streamKey, ids[3] ?? '');
      await stream.readNew('c1', { count: 1 });
      expect(await rawGroupLag(target.streamKey)).toBeNull();

      const stats = await stream.stats();

      expect(stats.lag).toBe(3); // b, c and e: never delivered
      expect(stats.lastDeliveredId).toBe(ids[0]);
    });

    it('counts the lag itself when Redis reports it as null (XGROUP SETID to an arbitrary id)', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(['a', 'b', 'c', 'd', 'e']);
      await admin.call('XGROUP', 'SETID', target.streamKey, target.group, ids[1] ?? '');
      expect(await rawGroupLag(target.streamKey)).toBeNull();

      expect((await stream.stats()).lag).toBe(3);
    });

    it(`stops counting a null lag at ${LAG_COUNT_LIMIT} entries, still above the alarm threshold`, async () => {
      await stream.ensureGroup();
      const [, second] = await stream.add(['a', 'b']);
      const pipeline = admin.pipeline();
      for (let i = 0; i < LAG_COUNT_LIMIT + 10; i++) pipeline.xadd(target.streamKey, '*', 'data', 'x');
      await pipeline.exec();
      await admin.call('XGROUP', 'SETID', target.streamKey, target.group, second ?? '');
      expect(await rawGroupLag(target.streamKey)).toBeNull();

      expect((await stream.stats()).lag).toBe(LAG_COUNT_LIMIT);
      // A caller comparing with a higher limit (backpressure) asks for it.
      expect((await stream.stats({ lagCountLimit: LAG_COUNT_LIMIT + 5 })).lag).toBe(LAG_COUNT_LIMIT + 5);
    });
  });

  describe('length and consumers (the backlog summary)', () => {
    it('before the stream exists: length 0, and stats and consumers say the group is missing', async () => {
      expect(await stream.length()).toBe(0);
      await expect(stream.stats()).rejects.toBeInstanceOf(StreamGroupMissingError);
      await expect(stream.consumers()).rejects.toBeInstanceOf(StreamGroupMissingError);
    });

    it('with entries but no group yet: the length, and the group is missing', async () => {
      await stream.add(['a', 'b']);
      expect(await stream.length()).toBe(2);
      await expect(stream.stats()).rejects.toBeInstanceOf(StreamGroupMissingError);
      await expect(stream.consumers()).rejects.toBeInstanceOf(StreamGroupMissingError);
    });

    it('lists each consumer with its pending count and idle time', async () => {
      await stream.ensureGroup();
      await stream.add(['a', 'b']);
      await stream.readNew('c1', { count: 1 });
      const consumers = await stream.consumers();
      expect(consumers).toEqual([{ name: 'c1', pending: 1, idleMs: expect.any(Number) }]);
      expect(consumers[0]?.idleMs).toBeGreaterThanOrEqual(0);
    });
  });

  describe('trimBefore', () => {
    it('drops only entries older than the given id and returns how many it dropped', async () => {
      await stream.ensureGroup();
      const ids = await stream.add(Array.from({ length: 250 }, (_, i) => `entry ${i}`));
      const boundary = ids[150] ?? '';

      expect(await stream.trimBefore(ids[0] ?? '')).toBe(0);
      const removed = await stream.trimBefore(boundary);

      const remaining = await streamIds(target.streamKey);
      expect(remaining).toEqual(ids.slice(ids.length - remaining.length));
      expect(remaining).toEqual(expect.arrayContaining(ids.slice(150)));
      expect(removed).toBe(ids.length - remaining.length);
      // "~" trims whole radix-tree nodes (100 entries by default), so some but maybe not all go.
      expect(removed).toBeGreaterThan(0);
    });
  });

  describe('error notes', () => {
    const noteA = { type: 'ValidationError', message: 'bad "field" — ü 🎉' };
    const noteB = { type: 'SqlStatementError', message: "duplicate key value violates 'pk'" };

    it('reads back notes written by noteErrors and leaves out ids without one', async () => {
      await stream.noteErrors([
        { id: '1-0', error: noteA },
        { id: '2-0', error: noteB },
      ]);

      expect(await stream.readErrors(['1-0', '2-0', '3-0'])).toEqual(
        new Map([
          ['1-0', noteA],
          ['2-0', noteB],
        ]),
      );
      expect(await stream.readErrors([])).toEqual(new Map());
    });

    it('overwrites a note on a second noteErrors and deletes notes on forgetErrors', async () => {
      await stream.noteErrors([
        { id: '1-0', error: noteA },
        { id: '2-0', error: noteA },
      ]);
      await stream.noteErrors([{ id: '2-0', error: noteB }]);
      await stream.noteErrors([]);

      await stream.forgetErrors(['1-0']);
      await stream.forgetErrors([]);

      expect(await stream.readErrors(['1-0', '2-0'])).toEqual(new Map([['2-0', noteB]]));
    });

    it('fails on a command error without echoing the data it was sent into the message', async () => {
      await admin.set(errorNotesKey(target.streamKey), 'a string, not a hash');

      const error = await rejectionOf(stream.noteErrors([{ id: '1-0', error: { type: 'E', message: 'secret-payload' } }]));

      expect(error).not.toBeInstanceOf(DependencyUnavailableError);
      expect((error as Error).message).toMatch(/WRONGTYPE/);
      expect((error as Error).message).not.toContain('secret-payload');
    });

    it('leaves out a note it cannot parse', async () => {
      await admin.hset(errorNotesKey(target.streamKey), '1-0', 'not json {');

      expect(await stream.readErrors(['1-0'])).toEqual(new Map());
    });
  });

  describe('availability', () => {
    it('ping resolves when the service is up', async () => {
      await expect(stream.ping()).resolves.toBeUndefined();
    });

    it('rejects with DependencyUnavailableError("stream") within 3 s when the endpoint is unreachable', async () => {
      const down = open(factory.openUnreachable);
      const calls: [string, () => Promise<unknown>][] = [
        ['ping', () => down.ping()],
        ['add', () => down.add(['x'])],
        ['readNew', () => down.readNew('c1', { count: 1 })],
        ['stats', () => down.stats()],
      ];
      for (const [name, call] of calls) {
        const started = Date.now();
        const error = await rejectionOf(call());

        expect(error, name).toBeInstanceOf(DependencyUnavailableError);
        expect((error as DependencyUnavailableError).dependency, name).toBe('stream');
        expect(Date.now() - started, name).toBeLessThan(3000);
      }
    });
  });
}

describe.each(ADAPTERS)('EventStream conformance: $name', describeEventStreamConformance);

describe('createUpstashStream', () => {
  const target = { streamKey: 'unused', group: 'unused' };

  it('refuses to start without a url or a token', () => {
    expect(() => createUpstashStream({ url: '', token: 't', ...target })).toThrow(ConfigError);
    expect(() => createUpstashStream({ url: 'http://127.0.0.1:1', token: ' ', ...target })).toThrow(/token/);
  });

  it('maps a gateway failure (a 502 page, a 503 reply) to DependencyUnavailableError("stream")', async () => {
    // Not a Redis stand-in: this plays the proxy in front of Upstash, which real Redis cannot be made to do.
    const replies = [
      { status: 502, type: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' },
      { status: 503, type: 'application/json', body: JSON.stringify({ error: 'Service Unavailable' }) },
    ];
    let reply = replies[0] ?? { status: 500, type: 'text/plain', body: '' };
    const gateway = createServer((_request, response) => {
      response.writeHead(reply.status, { 'content-type': reply.type }).end(reply.body);
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const { port } = gateway.address() as AddressInfo;
    const stream = createUpstashStream({ url: `http://127.0.0.1:${port}`, token: 't', ...target });
    try {
      for (reply of replies) {
        const error = await rejectionOf(stream.ping());
        expect(error, String(reply.status)).toBeInstanceOf(DependencyUnavailableError);
      }
    } finally {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.close(resolve));
    }
  });

  it('keeps a leading U+FEFF (the SDK’s base64 decoder dropped it)', async () => {
    const server = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: uniqueName('token') });
    const streamKey = uniqueName('ef_contract');
    const stream = createUpstashStream({ url: server.url, token: server.token, streamKey, group: 'g' });
    try {
      await stream.ensureGroup();
      await stream.add(['\uFEFF{"a":1}', 'inner \uFEFF kept']);

      const entries = await stream.readNew('c1', { count: 10 });

      expect(entries.map((entry) => entry.data)).toEqual(['\uFEFF{"a":1}', 'inner \uFEFF kept']);
    } finally {
      await admin.del(streamKey);
      await server.close();
    }
  });
});

describe('local Upstash REST endpoint', () => {
  let server: UpstashRestServer;
  let key: string;

  beforeAll(async () => {
    server = await startUpstashRestServer({ redisUrl: TEST_REDIS_URL, token: uniqueName('token') });
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    key = uniqueName('ef_rest');
  });

  afterEach(async () => {
    await admin.del(key);
  });

  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  }

  it('answers 401 with {error} without the bearer token or with a wrong one', async () => {
    const missing = await fetch(`${server.url}/`, { method: 'POST', body: JSON.stringify(['PING']) });
    const wrong = await post('/', ['PING'], { authorization: 'Bearer not-the-token' });

    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: expect.any(String) });
    expect(wrong).toEqual({ status: 401, body: { error: expect.any(String) } });
  });

  it('answers 400 with {error} when a single command fails', async () => {
    await admin.set(key, 'not a number');

    expect(await post('/', ['INCR', key])).toEqual({
      status: 400,
      body: { error: expect.stringMatching(/^ERR value is not an integer/) },
    });
    expect(await post('/', { not: 'a command' })).toEqual({ status: 400, body: { error: expect.any(String) } });
  });

  it('base64-encodes every string of a result when asked, nested arrays included, numbers and null untouched', async () => {
    const id = String(await admin.call('XADD', key, '*', 'data', 'ü 🎉'));
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const encoded = { 'upstash-encoding': 'base64' };

    expect(await post('/', ['XRANGE', key, '-', '+'], encoded)).toEqual({
      status: 200,
      body: { result: [[b64(id), [b64('data'), b64('ü 🎉')]]] },
    });
    expect(await post('/', ['XLEN', key], encoded)).toEqual({ status: 200, body: { result: 1 } });
    expect(await post('/', ['GET', `${key}:missing`], encoded)).toEqual({ status: 200, body: { result: null } });
    expect(await post('/', ['XRANGE', key, '-', '+'])).toEqual({
      status: 200,
      body: { result: [[id, ['data', 'ü 🎉']]] },
    });
  });

  it('answers a pipeline with one {result} or {error} per command, in order', async () => {
    const { status, body } = await post('/pipeline', [['SET', key, 'v'], ['NOSUCHCOMMAND'], ['GET', key]]);

    expect(status).toBe(200);
    expect(body).toEqual([{ result: 'OK' }, { error: expect.stringMatching(/unknown command/i) }, { result: 'v' }]);
  });

  it('runs /multi-exec in one MULTI/EXEC: a command Redis rejects discards the whole transaction', async () => {
    expect(
      await post('/multi-exec', [
        ['SET', key, '1'],
        ['INCR', key],
      ]),
    ).toEqual({
      status: 200,
      body: [{ result: 'OK' }, { result: 2 }],
    });

    const aborted = await post('/multi-exec', [['SET', key, 'changed'], ['NOSUCHCOMMAND']]);

    expect(aborted).toEqual({ status: 400, body: { error: expect.stringMatching(/EXECABORT/) } });
    expect(await admin.get(key)).toBe('2');
  });

  it('refuses blocking reads, which REST cannot serve and which would stall the shared connection', async () => {
    const { status, body } = await post('/', ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 1000, 'STREAMS', key, '>']);

    expect(status).toBe(400);
    expect(body).toEqual({ error: expect.stringMatching(/BLOCK/) });
  });
});
