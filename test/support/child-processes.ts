// Child processes for process-level tests: the real API, consumers, scripts and a private redis-server,
// with their output kept for diagnosis. Never leaves a child behind: every one is killed on exit.

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a worker dies without running afterAll: no orphaned consumer keeps draining.
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Thrown from a waitFor check to stop waiting at once (e.g. the process being waited on died). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws `what`). Errors
 * thrown by `check` count as "not yet", except GiveUp, which ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** A port nobody listens on right now (for a server we start ourselves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running child with its output (stdout and stderr interleaved, line by line). */
export class ManagedProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | null = null;
  private partial = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly maxLines = 5000,
  ) {
    live.add(child);
    installExitHook();
    const collect = (chunk: Buffer) => {
      const text = this.partial + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) this.push(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (this.partial) this.push(this.partial);
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
      child.once('error', (error) => {
        live.delete(child);
        this.push(`[spawn error] ${error.message}`);
        this.exitStatus = { code: null, signal: null };
        resolve(this.exitStatus);
      });
    });
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  get status(): ExitStatus | null {
    return this.exitStatus;
  }

  /** The last lines of output, for failure messages. */
  tail(count = 40): string {
    return this.lines.slice(-count).join('\n');
  }

  /** The first line matching `pattern`, if any. */
  find(pattern: RegExp): string | undefined {
    return this.lines.find((line) => pattern.test(line));
  }

  /** Waits until a line matches `pattern`; fails early (with the output) if the process exits. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.find(pattern);
      if (line !== undefined) return line;
      if (!this.running) {
        throw new Error(`${this.name} exited (${JSON.stringify(this.status)}) before printing ${pattern}:\n${this.tail()}`);
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      await sleep(50);
    }
  }

  /** SIGKILL: no handler runs, nothing is flushed; resolves once the process is gone. */
  async kill(): Promise<ExitStatus> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGSTOP / SIGCONT: freezes and thaws the process (a stalled container, a long GC pause). */
  pause(): void {
    if (this.running) this.child.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.child.kill('SIGCONT');
  }

  /** A graceful stop (SIGTERM), escalated to SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The environment a child starts from: enough to run node, nothing of the test runner's own. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Runs `node --import tsx <script> …args` from the repository root. */
export function spawnTsx(name: string, script: string, args: readonly string[], env: Record<string, string>): ManagedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ManagedProcess(name, child);
}

/** Runs a tsx script to completion; resolves with its exit status and output. */
export async function runTsx(
  name: string,
  script: string,
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ExitStatus & { output: string }> {
  const proc = spawnTsx(name, script, args, env);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  try {
    const status = await proc.exited;
    return { ...status, output: proc.lines.join('\n') };
  } finally {
    clearTimeout(timer);
  }
}

/** A private redis-server without persistence: killing it loses every key, as a crashed cache node would. */
export class PrivateRedis {
  private proc: ManagedProcess | null = null;
  private starts = 0;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** Starts (again) on the same port, empty, and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.proc?.running) throw new Error('private redis-server is already running');
    this.starts++;
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = new ManagedProcess(`redis-server:${this.port}#${this.starts}`, child, 500);
    await waitFor('private redis-server to answer PING', () => this.ping(), { timeoutMs: 10_000, intervalMs: 50 });
  }

  /** SIGKILL: the data set is gone with the process. */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  async ping(): Promise<boolean> {
    if (!this.proc?.running) return false;
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.port });
      let reply = '';
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(1000, () => done(false));
      socket.on('error', () => done(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk) => {
        reply += chunk.toString('utf8');
        if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
      });
    });
  }
}
