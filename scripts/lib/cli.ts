// Command-line plumbing shared by the operator scripts: flag parsing and checks, the usage/exit-2 convention, the main runner.
// Must never touch the network; only readCommandLine and runMain print, and only runMain sets the exit code or exits.
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A bad command line: the script prints `error: <message>`, then its usage, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The flags a script declares, as node:util parseArgs takes them. `-h, --help` is added to every script. */
export type Flags = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type Parsed<F extends Flags> = ReturnType<
  typeof parseArgs<{ args: string[]; strict: true; allowPositionals: true; options: F & typeof HELP }>
>;

/** What `interpret` receives: every declared flag, a string or a boolean by its type, absent when not given. */
export type FlagValues<F extends Flags> = Parsed<F>['values'];

/**
 * Parses `argv` against `flags` (strict: an unknown flag, a missing value or a positional argument is a UsageError)
 * and hands the values to `interpret`, which builds the options and throws UsageError for a value it refuses.
 * 'help' when -h/--help is given, whatever else is.
 */
export function parseCommandLine<const F extends Flags, T>(
  argv: readonly string[],
  flags: F,
  interpret: (values: FlagValues<F>) => T,
): T | 'help' {
  let parsed: Parsed<F>;
  try {
    parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: { ...flags, ...HELP } });
  } catch (error) {
    // parseArgs throws for unknown flags and missing values; its message names the flag.
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if ((values as { help?: boolean }).help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return interpret(values);
}

/**
 * parseCommandLine for a script's main: the options, or the exit code once it has printed the usage
 * (0 on stdout for --help; 2 on stderr, after `error: <message>`, for a bad command line).
 */
export function readCommandLine<const F extends Flags, T extends object>(
  usage: string,
  flags: F,
  interpret: (values: FlagValues<F>) => T,
  argv: readonly string[] = process.argv.slice(2),
): T | number {
  try {
    const options = parseCommandLine(argv, flags, interpret);
    if (options !== 'help') return options;
    process.stdout.write(`${usage}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${usage}\n`);
    return 2;
  }
}

/**
 * A number flag: `fallback` when absent, otherwise the value if it is a finite number that passes `check`.
 * A refusal reads `--<flag> must be <rule>, got "<raw>"`.
 */
export function parseNumber(
  flag: string,
  raw: string | undefined,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || !check(value)) {
    throw new UsageError(`--${flag} must be ${rule}, got "${raw}"`);
  }
  return value;
}

export const isPositiveInteger = (n: number): boolean => Number.isInteger(n) && n >= 1;

/** An integer check for parseNumber: whole numbers from `min` to `max`. */
export function integerBetween(min: number, max: number): (n: number) => boolean {
  return (n) => Number.isInteger(n) && n >= min && n <= max;
}

export const DEFAULT_BASE_URL = 'http://127.0.0.1:3000';

/**
 * The --url flag: an http(s) URL, returned without a trailing slash. Any path is kept (an API Gateway stage such as
 * /prod), so routes are appended to it.
 */
export function parseBaseUrl(raw: string | undefined, fallback = DEFAULT_BASE_URL): string {
  const text = raw ?? fallback;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http or https, got "${text}"`);
  return url.href.replace(/\/+$/, '');
}

/** --api-key, else $EVENTFLOW_API_KEY. */
export function apiKeyOrEnv(flag: string | undefined): string | undefined {
  return flag ?? process.env.EVENTFLOW_API_KEY;
}

/** An error's stack (or message) for a crash report; anything else thrown as its string. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export interface RunMainOptions {
  /** Names the script in a crash report: `<name> failed: <stack>`. */
  readonly name: string;
  /** Exit as soon as main settles rather than when the event loop empties (a straggling socket cannot keep it alive). */
  readonly exit?: boolean;
  /** Runs after a crash is reported, before the exit (the bench drops its throwaway database); its failure is ignored. */
  readonly onCrash?: () => Promise<unknown>;
}

/**
 * Runs a script's main: its result becomes the exit code; a crash is printed with its stack and exits 1.
 * Resolves once that is settled (it never rejects).
 */
export async function runMain(main: () => Promise<number>, options: RunMainOptions): Promise<void> {
  let code: number;
  try {
    code = await main();
  } catch (error) {
    process.stderr.write(`${options.name} failed: ${describeError(error)}\n`);
    code = 1;
    // The crash was reported above; a failing clean-up must not replace that message or the exit code.
    await options.onCrash?.().catch(() => {});
  }
  process.exitCode = code;
  if (options.exit) process.exit(code);
}
