import { describe, expect, it } from 'vitest';
import { LIVE_CONSUMER_IDLE_MS, summarizeBacklog } from '../../lambdas/core/queries.ts';

describe('the backlog summary', () => {
  const stats = { length: 10, lag: 3, pending: 2, oldestPendingId: '1000-0', lastDeliveredId: '2000-0', consumers: 3 };
  const now = new Date(61_000);

  it('counts consumers that read recently as live, and every consumer the group knows as the total', () => {
    const consumers = [
      { name: 'running', pending: 2, idleMs: 40 },
      { name: 'between-ticks', pending: 0, idleMs: LIVE_CONSUMER_IDLE_MS - 1 },
      { name: 'gone', pending: 0, idleMs: LIVE_CONSUMER_IDLE_MS },
    ];
    expect(summarizeBacklog(stats, consumers, now)).toEqual({
      stream_length: 10,
      lag: 3,
      pending: 2,
      queue_depth: 5,
      oldest_pending_age_seconds: 60,
      consumers_live: 2,
      consumers_total: 3,
      group_exists: true,
      queue_length: 10,
      pending_messages: 2,
      timestamp: '1970-01-01T00:01:01.000Z',
    });
  });
});
