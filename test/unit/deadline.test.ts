// The per-invocation deadline every adapter reads: pure functions over AsyncLocalStorage and a clock.
import { describe, expect, it } from 'vitest';
import {
  CallTimeoutError,
  callTimeoutMs,
  INVOCATION_MARGIN_MS,
  runWithDeadline,
  timeLeftMs,
  withCallTimeout,
  withInvocationDeadline,
} from '../../lambdas/adapters/deadline.ts';
import { transportFailure } from '../../lambdas/adapters/transport-failure.ts';

describe('callTimeoutMs', () => {
  it("is the adapter's own cap outside an invocation (scripts, the local server)", () => {
    expect(timeLeftMs()).toBe(Number.POSITIVE_INFINITY);
    expect(callTimeoutMs(50_000)).toBe(50_000);
  });

  it('is at most half of the time left, so a fallback and an answer still fit after a call that hangs', () => {
    runWithDeadline(Date.now() + 10_000, () => {
      expect(callTimeoutMs(50_000)).toBeLessThanOrEqual(5000);
      expect(callTimeoutMs(50_000)).toBeGreaterThan(4000);
      expect(callTimeoutMs(1500)).toBe(1500);
    });
  });

  it('is 1 ms past the deadline: the call fails at once instead of going out unbounded', () => {
    runWithDeadline(Date.now() - 1000, () => {
      expect(callTimeoutMs(50_000)).toBe(1);
    });
  });

  it('keeps each concurrent invocation on its own deadline across awaits', async () => {
    const seen = await Promise.all(
      [60_000, 4_000].map((ms) =>
        runWithDeadline(Date.now() + ms, async () => {
          await new Promise((resolve) => setImmediate(resolve));
          return callTimeoutMs(Number.POSITIVE_INFINITY);
        }),
      ),
    );
    expect(seen[0]).toBeGreaterThan(20_000);
    expect(seen[1]).toBeLessThanOrEqual(2000);
  });
});

describe('withInvocationDeadline', () => {
  it("sets the deadline from the Lambda context's remaining time, minus the margin", async () => {
    const handler = withInvocationDeadline(async (_event: unknown, _context: { getRemainingTimeInMillis(): number }) =>
      timeLeftMs(),
    );

    const left = await handler({}, { getRemainingTimeInMillis: () => 9000 });

    expect(left).toBeLessThanOrEqual(9000 - INVOCATION_MARGIN_MS);
    expect(left).toBeGreaterThan(9000 - INVOCATION_MARGIN_MS - 1000);
  });
});

describe('withCallTimeout', () => {
  it('rejects a call that outlives its time with a timeout every adapter classifies as unavailable', async () => {
    const error = await runWithDeadline(Date.now() + 20, () => withCallTimeout(60_000, () => new Promise(() => {}))).then(
      () => undefined,
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(CallTimeoutError);
    expect(transportFailure(error)).toBeDefined();
  });

  it('returns the answer of a call that ends in time', async () => {
    await expect(withCallTimeout(1000, async () => 'answer')).resolves.toBe('answer');
  });
});
