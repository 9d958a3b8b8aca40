// Scripts run as real processes for the HTTP-level tests (test/integration/server.test.ts), on top of
// child-processes.ts. Never leaves a child behind: every one is killed when the test process exits.
import type { ChildProcess } from 'node:child_process';
import { spawnTsx } from './child-processes.ts';

export { freePort } from './child-processes.ts';

/**
 * The small interface of test/integration/server.test.ts: a script run as `node --import tsx`, with
 * the given variables over this process's environment.
 */
export interface RunningProcess {
  readonly child: ChildProcess;
  /** Everything printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once the process has exited on its own. */
  exited(): Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) unless it has exited; resolves with the exit code. SIGKILL after 10 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function runScript(script: string, args: readonly string[] = [], env: Record<string, string> = {}): RunningProcess {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) merged[name] = value;
  const proc = spawnTsx(script, script, args, { ...merged, ...env });
  return {
    child: proc.child,
    output: () => proc.lines.join('\n'),
    async waitFor(pattern, timeoutMs) {
      const line = await proc.waitForLine(pattern, timeoutMs);
      return line.match(pattern) as RegExpMatchArray;
    },
    exited: async () => (await proc.exited).code,
    async stop(signal = 'SIGTERM') {
      if (proc.running) {
        if (signal === 'SIGKILL') return (await proc.kill()).code;
        proc.child.kill(signal);
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
        try {
          await proc.exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return (await proc.exited).code;
    },
  };
}
