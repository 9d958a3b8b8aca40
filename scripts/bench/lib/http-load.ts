// The bench's HTTP client: keep-alive POSTs over node:http (one socket per request in flight), and a helper that
// starts a child process and waits for the URL it prints. Never retries: a failed request is a status 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchRun } from '../context.ts';
import type { Send } from '../pipeline.ts';

/** POSTs JSON to `baseUrl + path` over kept-alive sockets; at most `sockets` in flight. */
export function httpSender(baseUrl: string, sockets: number): { send: Send; close: () => void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const base = new URL(baseUrl);
  const send: Send = (path, body) =>
    new Promise((resolvePromise) => {
      const text = JSON.stringify(body);
      const req = request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          path: `${base.pathname.replace(/\/$/, '')}${path}`,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolvePromise({ statusCode: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      req.on('error', (error) => resolvePromise({ statusCode: 0, body: String(error) }));
      req.end(text);
    });
  return { send, close: () => agent.destroy() };
}

export interface StartedChild {
  readonly child: ChildProcess;
  /** The first stdout line matching the pattern's first group. */
  readonly match: string;
}

/**
 * Spawns `process.execPath args…` and resolves when a stdout line matches `ready`. Stopped by the run's cleanup
 * (SIGTERM, then SIGKILL after 5 s). Its stderr is kept for the error message if it exits before it is ready.
 */
export async function startChild(
  run: BenchRun,
  args: string[],
  env: Record<string, string | undefined>,
  ready: RegExp,
): Promise<StartedChild> {
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  run.onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-4000);
  });
  const match = await new Promise<string>((resolvePromise, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const found = ready.exec(out);
      if (found) {
        child.stdout?.off('data', onData);
        // Keep draining stdout so the child never blocks on a full pipe.
        child.stdout?.on('data', () => {});
        resolvePromise(found[1] ?? found[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before it was ready: ${err.trim()}`)));
  });
  return { child, match };
}

/** Resident memory of a child process (Linux /proc), in bytes; null elsewhere. */
export async function rssOf(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null; // not Linux, or the process is gone: the figure is simply not shown
  }
}

/** Machine-wide CPU counters (Linux /proc/stat, in ticks): busy and total; null elsewhere. */
export async function cpuTicks(): Promise<{ busy: number; total: number } | null> {
  try {
    const { readFile } = await import('node:fs/promises');
    const fields = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((sum, n) => sum + n, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return null; // not Linux: the figure is simply not shown
  }
}
