// A StreamStats value for unit tests of the policies that read it: an idle, fully drained stream with one
// consumer, changed only where a test says so.

import type { StreamStats } from '../../lambdas/ports.ts';

export const streamStats = (overrides: Partial<StreamStats> = {}): StreamStats => ({
  length: 0,
  lag: 0,
  pending: 0,
  oldestPendingId: null,
  lastDeliveredId: '0-0',
  consumers: 1,
  ...overrides,
});
