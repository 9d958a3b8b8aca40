// Splitting a list into batches that respect a byte budget and a count, in input order.
// Shared by the SQL store (Data API request size) and the SQS adapter (10 entries, 256 KiB). Pure.

/**
 * Groups items into batches of at most `maxCount` items and `maxBytes` bytes (by `sizeOf`). An item
 * larger than maxBytes on its own goes alone, so the service's own limit decides its fate.
 */
export function chunkBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes: number,
  maxCount = Number.POSITIVE_INFINITY,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxCount || currentBytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
