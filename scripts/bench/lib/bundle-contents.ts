// What a bundle is made of, from its source map alone (CDK's bundling writes no esbuild metafile): each generated
// byte is attributed to the source its mapping segment points at, then summed by npm package or project folder.
// Pure: reads nothing but the strings it is given.

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((char, index) => [char, index]));

/** The first field of each segment of a line (its generated column) and its source index (or -1), as VLQ deltas. */
export function* segments(mappings: string): Generator<{ line: number; column: number; source: number }> {
  let line = 0;
  let source = 0;
  let column = 0;
  let value = 0;
  let shift = 0;
  let fields: number[] = [];
  const flush = (): { line: number; column: number; source: number } | null => {
    if (fields.length === 0) return null;
    column += fields[0] as number;
    const hasSource = fields.length >= 4;
    if (hasSource) source += fields[1] as number;
    fields = [];
    return { line, column, source: hasSource ? source : -1 };
  };
  for (const char of mappings) {
    if (char === ',' || char === ';') {
      const segment = flush();
      if (segment) yield segment;
      if (char === ';') {
        line++;
        column = 0;
      }
      continue;
    }
    const digit = DIGIT.get(char);
    if (digit === undefined) throw new Error(`invalid source map character "${char}"`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  const last = flush();
  if (last) yield last;
}

/** The package a source path belongs to: `@scope/name` or `name` under node_modules, else the project folder. */
export function packageOf(source: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (match?.[1]) return match[1];
  // Project files: the folder under the repo root (lambdas/core, schemas…), wherever the map was written from.
  const project = /(?:^|\/)((?:lambdas|schemas|scripts|lib)(?:\/[^/]+(?=\/))?)\//.exec(source);
  if (project?.[1]) return project[1];
  return source
    .replace(/^(\.\.\/)+/, '')
    .split('/')
    .slice(0, 2)
    .join('/');
}

/** Bytes of `code` per package, largest first; bytes with no mapping count under "(unmapped)". */
export function bytesByPackage(code: string, map: { sources: string[]; mappings: string }): Array<[string, number]> {
  const lines = code.split('\n');
  const totals = new Map<string, number>();
  const add = (name: string, bytes: number) => totals.set(name, (totals.get(name) ?? 0) + bytes);
  const names = map.sources.map(packageOf);
  let previous: { line: number; column: number; source: number } | null = null;
  const close = (until: { line: number; column: number } | null) => {
    if (!previous) return;
    const text = lines[previous.line] ?? '';
    const sameLine = until !== null && until.line === previous.line;
    const newline = !sameLine && previous.line < lines.length - 1 ? 1 : 0;
    const slice = sameLine ? text.slice(previous.column, until.column) : text.slice(previous.column);
    const name = previous.source < 0 ? '(unmapped)' : (names[previous.source] ?? '(unmapped)');
    add(name, Buffer.byteLength(slice) + newline);
  };
  for (const segment of segments(map.mappings)) {
    close(segment);
    previous = segment;
  }
  close(null);
  // Text before a line's first segment (the banner, for one) has no mapping at all.
  let covered = 0;
  for (const bytes of totals.values()) covered += bytes;
  const uncovered = Buffer.byteLength(code) - covered;
  if (uncovered > 0) add('(unmapped)', uncovered);
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** Finds the source of a generated position (0-based line and column) in a bundle's source map. */
export function sourceLocator(map: { sources: string[]; mappings: string }): (line: number, column: number) => string | null {
  const byLine: Array<Array<{ column: number; source: number }>> = [];
  for (const segment of segments(map.mappings)) {
    const line = byLine[segment.line] ?? [];
    line.push({ column: segment.column, source: segment.source });
    byLine[segment.line] = line;
  }
  return (line, column) => {
    const entries = byLine[line];
    if (!entries || entries.length === 0) return null;
    // Last segment starting at or before the column (segments are in column order).
    let low = 0;
    let high = entries.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((entries[middle] as { column: number }).column <= column) low = middle;
      else high = middle - 1;
    }
    const source = (entries[low] as { source: number }).source;
    return source < 0 ? null : (map.sources[source] ?? null);
  };
}
