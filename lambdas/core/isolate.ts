// Batch writes that one bad row cannot hold back: the whole batch in one statement, and only when
// the database refuses that statement, row by row. Never retries an outage: that error propagates.
import { SqlStatementError } from '../errors.ts';

export interface Isolated<T, R> {
  /** What the writes returned, for the items that were written. */
  readonly results: R[];
  /** Items the database refused on their own, with its reason. */
  readonly refused: Map<T, SqlStatementError>;
}

/**
 * Writes `items` with `write` (one statement for all of them, returning one result per written
 * row). On a SqlStatementError the statement is about some row's data, so each item is written alone
 * (the failure path only) and the ones refused again are reported; other errors are thrown.
 */
export async function writeIsolating<T, R>(
  items: readonly T[],
  write: (batch: readonly T[]) => Promise<R[]>,
): Promise<Isolated<T, R>> {
  if (items.length === 0) return { results: [], refused: new Map() };
  try {
    return { results: await write(items), refused: new Map() };
  } catch (error) {
    if (!(error instanceof SqlStatementError)) throw error;
    if (items.length === 1) return { results: [], refused: new Map([[items[0] as T, error]]) };
    const results: R[] = [];
    const refused = new Map<T, SqlStatementError>();
    for (const item of items) {
      const single = await writeIsolating([item], write);
      results.push(...single.results);
      for (const [refusedItem, reason] of single.refused) refused.set(refusedItem, reason);
    }
    return { results, refused };
  }
}
