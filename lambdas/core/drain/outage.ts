// Riding out an outage as a whole: while a dependency the drain needs is unavailable, the drain takes
// no new work, backs off (capped exponential, jittered) and probes before resuming; deliveries that met
// the outage get their attempt back, so only failures caused by the event count toward MAX_ATTEMPTS.
import { setTimeout as sleep } from 'node:timers/promises';
import { type DependencyUnavailableError, errorMessage, StreamGroupMissingError } from '../../errors.ts';
import type { EventStream, Logger, SqlExecutor } from '../../ports.ts';
import type { Delivery } from './delivery.ts';

/** First pause after an outage is seen, and the cap the doubling stops at. */
export const PAUSE_FIRST_MS = 250;
export const PAUSE_MAX_MS = 5000;

/** Full-range jitter on the upper half: consumers that saw one outage do not probe in step. */
export const pauseMs = (attempt: number, random: () => number = Math.random): number => {
  const ceiling = Math.min(PAUSE_MAX_MS, PAUSE_FIRST_MS * 2 ** Math.max(0, attempt));
  return Math.round(ceiling * (0.5 + random() / 2));
};

export interface OutageDeps {
  readonly sql: SqlExecutor;
  readonly stream: EventStream;
  readonly logger: Logger;
}

export function createOutageGuard(deps: OutageDeps, consumer: string) {
  /** Deliveries that met an outage and still need their attempt back (Redis may have been the one down). */
  const unrestored = new Map<string, number>();
  let attempt = 0;
  let pausedSince: number | null = null;

  /** Remembers deliveries whose attempt the outage must not cost. */
  function excuse(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) unrestored.set(delivery.id, delivery.deliveries - 1);
  }

  /** Gives excused deliveries their attempt back; false while Redis itself cannot be reached. */
  async function restore(): Promise<boolean> {
    if (unrestored.size === 0) return true;
    try {
      await deps.stream.restoreDeliveries(
        consumer,
        [...unrestored].map(([id, deliveries]) => ({ id, deliveries })),
      );
      unrestored.clear();
      return true;
    } catch (error) {
      if (error instanceof StreamGroupMissingError) {
        // Redis lost the group, and with it these pending entries: nothing to hand back (the reconciler
        // republishes whatever had no outcome, with a fresh count).
        unrestored.clear();
        return true;
      }
      deps.logger.warn('could not restore delivery counts yet', { error: errorMessage(error), entries: unrestored.size });
      return false;
    }
  }

  /** Is the dependency back? The cheapest call that needs it. */
  async function probe(error: DependencyUnavailableError): Promise<boolean> {
    try {
      if (error.dependency === 'database') await deps.sql.query('SELECT 1');
      else await deps.stream.ping();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Pauses after `error`: backs off, then probes; repeats until the dependency answers or the time
   * allowed runs out. Returns true when the drain may resume.
   */
  async function rideOut(error: DependencyUnavailableError, allowedMs: () => number): Promise<boolean> {
    pausedSince ??= Date.now();
    deps.logger.warn('dependency unavailable; the drain pauses and takes no new work', {
      dependency: error.dependency,
      error: error.message,
    });
    while (allowedMs() > 0) {
      // Handing attempts back needs only Redis: do it now, not after the database returns, so an outage
      // that outlasts this invocation does not leave the entries with its delivery counted.
      const restored = await restore();
      await sleep(Math.min(pauseMs(attempt++), allowedMs()));
      if ((await probe(error)) && (restored || (await restore()))) {
        deps.logger.info('dependency answers again; the drain resumes', {
          dependency: error.dependency,
          paused_ms: Date.now() - (pausedSince ?? Date.now()),
        });
        attempt = 0;
        pausedSince = null;
        return true;
      }
    }
    return false;
  }

  return { excuse, restore, rideOut };
}
