// Maps errors of Postgres wire-protocol drivers (pg, PGlite) to EventFlow's error types, so every SQL
// adapter fails the same way: unreachable/overloaded → DependencyUnavailableError, refused → SqlStatementError.
import { DependencyUnavailableError, SqlStatementError } from '../../errors.ts';
import { messageOf, transportFailure } from '../transport-failure.ts';

// SQLSTATE classes/codes a retry can cure: connection exceptions (08), invalid authorization (28: a
// rotated password), invalid catalog (3D000: the database is being created), insufficient resources
// (53), operator intervention (57P: shutdown, cannot connect now), statement timeout / cancel (57014),
// lock not available (55P03), serialization failure, deadlock.
const TRANSIENT_SQLSTATE = /^(08|28|3D000|53|57P|57014|55P03|40001|40P01)/;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of an error the server sent (pg DatabaseError, PGlite), or undefined for client-side errors. */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  // 'EPIPE' is five capitals too: Node's codes are left to the transport test.
  return typeof code === 'string' && SQLSTATE.test(code) && !transportFailure({ code }) ? code : undefined;
}

export function classifyPgError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError || error instanceof SqlStatementError) return error;
  const message = messageOf(error);
  // The server answered: its SQLSTATE decides. Its message is not consulted: it may quote the row's
  // data, and an event must not be able to make its own failure look like an outage.
  const state = sqlState(error);
  if (state !== undefined) {
    if (TRANSIENT_SQLSTATE.test(state)) {
      return new DependencyUnavailableError('database', `database unavailable: ${message}`, { cause: error });
    }
    return new SqlStatementError(message, state, { cause: error });
  }
  const failure = transportFailure(error);
  if (failure) {
    return new DependencyUnavailableError('database', `database unavailable: ${message}`, {
      cause: error,
      resuming: failure.resuming,
    });
  }
  return new SqlStatementError(message, undefined, { cause: error });
}
