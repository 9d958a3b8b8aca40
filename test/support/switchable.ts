// Wrappers that put a real adapter "down" on demand (calls throw DependencyUnavailableError, as the
// adapters do when the server is unreachable). For in-process recovery tests; the fault suite uses real outages.
import { DependencyUnavailableError } from '../../lambdas/errors.ts';
import type { EventStream, IngestFallbackQueue, SqlExecutor } from '../../lambdas/ports.ts';

export interface Switch {
  down: boolean;
}

function guard(state: Switch, dependency: 'database' | 'stream' | 'queue'): void {
  if (state.down) throw new DependencyUnavailableError(dependency, `${dependency} unavailable: switched off by the test`);
}

export function switchableSql(sql: SqlExecutor): SqlExecutor & Switch {
  const state = { down: false };
  return Object.assign(state, {
    maxStatementBytes: sql.maxStatementBytes,
    query: async (text: string, params?: Parameters<SqlExecutor['query']>[1]) => {
      guard(state, 'database');
      return sql.query(text, params);
    },
    transaction: async <T>(fn: Parameters<SqlExecutor['transaction']>[0]) => {
      guard(state, 'database');
      return sql.transaction(fn) as Promise<T>;
    },
    close: () => sql.close(),
  }) as SqlExecutor & Switch;
}

export function switchableStream(stream: EventStream): EventStream & Switch {
  const state = { down: false };
  const wrapped = {} as Record<string, unknown>;
  for (const key of Object.keys(stream) as Array<keyof EventStream>) {
    const method = stream[key] as (...args: unknown[]) => Promise<unknown>;
    wrapped[key] = async (...args: unknown[]) => {
      if (key !== 'close') guard(state, 'stream');
      return method(...args);
    };
  }
  return Object.assign(state, wrapped) as unknown as EventStream & Switch;
}

export function switchableQueue(queue: IngestFallbackQueue): IngestFallbackQueue & Switch {
  const state = { down: false };
  return Object.assign(state, {
    send: async (bodies: readonly string[]) => {
      guard(state, 'queue');
      return queue.send(bodies);
    },
    receive: async (options: Parameters<IngestFallbackQueue['receive']>[0]) => {
      guard(state, 'queue');
      return queue.receive(options);
    },
    delete: async (handles: readonly string[]) => {
      guard(state, 'queue');
      return queue.delete(handles);
    },
  });
}
