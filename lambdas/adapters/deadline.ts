// The invocation's deadline, read by every adapter when it starts a call, so a slow or hanging
// dependency fails as a timeout with time left to fall back and answer. Never reads config or env.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Time kept back from the Lambda timeout for answering and flushing logs/metrics after the last call. */
export const INVOCATION_MARGIN_MS = 1000;

const invocation = new AsyncLocalStorage<{ readonly endsAt: number }>();

/**
 * Runs `fn` with a deadline at `endsAt` (epoch ms): every adapter call started inside, however deep
 * in awaits, is bounded by it. Concurrent invocations (the local server) each keep their own.
 */
export function runWithDeadline<T>(endsAt: number, fn: () => T): T {
  return invocation.run({ endsAt }, fn);
}

/** Milliseconds until the current deadline; Infinity outside runWithDeadline (scripts, the local server). */
export function timeLeftMs(): number {
  const current = invocation.getStore();
  return current ? current.endsAt - Date.now() : Number.POSITIVE_INFINITY;
}

/**
 * How long a call started now may take: the adapter's own cap, and never more than half of the time
 * left, so that whichever call hangs there is still time for a fallback (the SQS queue) and an
 * answer. At least 1 ms: past the deadline a call fails at once instead of being sent unbounded.
 */
export function callTimeoutMs(capMs: number): number {
  const left = timeLeftMs();
  if (!Number.isFinite(left)) return capMs;
  return Math.max(1, Math.min(capMs, Math.floor(left / 2)));
}

/** An AbortSignal that fires after callTimeoutMs(capMs) (AWS SDK `abortSignal`, fetch `signal`). */
export function callSignal(capMs: number): AbortSignal {
  return AbortSignal.timeout(callTimeoutMs(capMs));
}

/** The error a call bounded by withCallTimeout ends with; the adapters' classifiers call it unavailable. */
export class CallTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms (bounded by the invocation's deadline)`);
  }
}

/**
 * Runs `call`, rejecting with CallTimeoutError after callTimeoutMs(capMs), for clients that take no
 * AbortSignal. The call itself is not cancelled: callers release what a late answer holds.
 */
export async function withCallTimeout<T>(capMs: number, call: () => Promise<T>): Promise<T> {
  const timeoutMs = callTimeoutMs(capMs);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CallTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([call(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Lambda context's only part this module needs. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Wraps a Lambda handler so each invocation runs with its deadline: the time the context says is
 * left, minus `marginMs` for answering after the last call.
 */
export function withInvocationDeadline<Event, Context extends InvocationContext, Result>(
  handler: (event: Event, context: Context) => Promise<Result>,
  options: { readonly marginMs?: number } = {},
): (event: Event, context: Context) => Promise<Result> {
  const marginMs = options.marginMs ?? INVOCATION_MARGIN_MS;
  return (event, context) =>
    runWithDeadline(Date.now() + context.getRemainingTimeInMillis() - marginMs, () => handler(event, context));
}
