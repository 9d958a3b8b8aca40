// Group commit for a long-lived server: single events that arrive while a write is in flight are stored by one
// multi-row INSERT and one pipelined XADD. Each caller still gets its own result only after both (202 after
// durability), and its own error. Never used in Lambda, where a container serves one request at a time.
import { DependencyUnavailableError } from '../errors.ts';
import { type IngestDeps, type IngestResult, ingestEvents, type ValidatedEvents } from './ingest.ts';

export interface IngestBatcher {
  /** ingestEvents, possibly together with other callers' events: same results, same errors. */
  ingest(events: ValidatedEvents, deps: IngestDeps): Promise<IngestResult[]>;
}

export interface IngestBatcherOptions {
  /** Most events in one group (one INSERT statement). @default 500 */
  readonly maxEvents?: number;
  /** Groups written at the same time (each takes a pool connection). @default 2 */
  readonly maxInFlight?: number;
}

interface Pending {
  readonly events: ValidatedEvents;
  readonly deps: IngestDeps;
  resolve(results: IngestResult[]): void;
  reject(error: unknown): void;
}

/**
 * A caller waits only while `maxInFlight` groups are being written; the callers that queued meanwhile form the
 * next group. An unloaded server writes each event at once, as without the batcher.
 */
export function createIngestBatcher(options: IngestBatcherOptions = {}): IngestBatcher {
  const maxEvents = options.maxEvents ?? 500;
  const maxInFlight = options.maxInFlight ?? 2;
  let queue: Pending[] = [];
  let inFlight = 0;

  /**
   * The next group, in arrival order, up to maxEvents. A caller whose event_id is already in the group waits for
   * the next one: within one INSERT the second copy could not tell "duplicate" from "conflict".
   */
  function takeGroup(): Pending[] {
    const group: Pending[] = [];
    const ids = new Set<string>();
    const rest: Pending[] = [];
    let count = 0;
    for (const pending of queue) {
      const size = pending.events.events.length;
      const clash = pending.events.events.some((event) => ids.has(event.event_id));
      if (clash || (group.length > 0 && count + size > maxEvents)) {
        rest.push(pending);
        continue;
      }
      group.push(pending);
      count += size;
      for (const event of pending.events.events) ids.add(event.event_id);
    }
    queue = rest;
    return group;
  }

  async function write(group: Pending[]): Promise<void> {
    const first = group[0] as Pending;
    if (group.length === 1) {
      await ingestEvents(first.events, first.deps).then(first.resolve, first.reject);
      return;
    }
    const merged: ValidatedEvents = {
      events: group.flatMap((pending) => pending.events.events),
      timestampGiven: new Set(group.flatMap((pending) => [...pending.events.timestampGiven])),
    };
    let results: IngestResult[];
    try {
      // The first caller's deps (they differ only in the request's logger).
      results = await ingestEvents(merged, first.deps);
    } catch (error) {
      // An outage is every caller's answer (503), as it would have been alone. Anything else may be one event's
      // doing: each caller is written on its own, so only its request fails.
      if (error instanceof DependencyUnavailableError) {
        for (const pending of group) pending.reject(error);
        return;
      }
      await Promise.all(group.map((pending) => ingestEvents(pending.events, pending.deps).then(pending.resolve, pending.reject)));
      return;
    }
    let offset = 0;
    for (const pending of group) {
      const count = pending.events.events.length;
      pending.resolve(results.slice(offset, offset + count));
      offset += count;
    }
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const group = takeGroup();
      inFlight++;
      void write(group).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  return {
    ingest(events, deps) {
      return new Promise<IngestResult[]>((resolve, reject) => {
        queue.push({ events, deps, resolve, reject });
        pump();
      });
    },
  };
}
