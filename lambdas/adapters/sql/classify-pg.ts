// Maps errors of Postgres wire-protocol drivers (pg, PGlite) to EventFlow's error types, so every
// SQL adapter fails the same way: unreachable/overloaded → DependencyUnavailableError, else SqlStatementError.
import { DependencyUnavailableError, SqlStatementError } from '../../errors.ts';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);
// SQLSTATE classes/codes a retry can cure: connection exceptions, insufficient resources, operator
// intervention (shutdown, cannot connect now, statement timeout / cancel 57014), lock not available
// (55P03), serialization failure, deadlock.
const TRANSIENT_SQLSTATE = /^(08|53|57P|57014|55P03|40001|40P01)/;

export function classifyPgError(error: unknown): Error {
  if (error instanceof DependencyUnavailableError || error instanceof SqlStatementError) return error;
  const err = error as { code?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : String(error);
  if (
    (code && (NETWORK_CODES.has(code) || TRANSIENT_SQLSTATE.test(code))) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
      message,
    )
  ) {
    return new DependencyUnavailableError('database', `database unavailable: ${message}`, { cause: error });
  }
  return new SqlStatementError(message, code, { cause: error });
}
