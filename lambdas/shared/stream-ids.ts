// Redis stream id arithmetic ("<ms>-<seq>"), shared by the pipeline and the stream adapters.
// Pure functions only.

/** Milliseconds part of a stream id ("1700000000000-0" → 1700000000000). */
export function streamIdTime(id: string): number {
  return Number(id.split('-')[0]);
}

/** Negative, zero or positive as a is before, equal to or after b. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? Math.sign(as - bs) : Math.sign(am - bm);
}
