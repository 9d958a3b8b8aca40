// CPU profiles for the bench: record one section of this process with the inspector (`--cpu-prof DIR`), and sum a
// .cpuprofile's self time by where it was spent (idle, GC, a package, a project folder, Node's internals, JSON…).

import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { packageOf } from './bundle-contents.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Runs `work` under the V8 sampling profiler and writes `<dir>/<name>.cpuprofile`. */
export async function profiled<T>(dir: string, name: string, work: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

/** Where a frame's time is counted: the V8 pseudo-frames, native JSON, a package, a project folder or node internals. */
export function categoryOf(frame: { functionName: string; url: string }): string {
  const { functionName, url } = frame;
  if (!url) {
    if (functionName === '(idle)') return '(idle: waiting for I/O)';
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)') return '(program: V8/native, not JS)';
    if (functionName === 'parse' || functionName === 'stringify') return `JSON.${functionName}`;
    return `native ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) {
    const module = url.slice(5).replace(/^internal\//, '');
    if (/^(net|stream|streams|_http|http|dns|tls)/.test(module)) return 'node: sockets, streams, http';
    if (/^(timers|process|async_hooks|events)/.test(module)) return 'node: timers, events, ticks';
    return `node: ${module.split('/')[0]}`;
  }
  return packageOf(url.replace(/^file:\/\//, ''));
}

/** Self time per category in milliseconds, largest first, and the profile's wall duration. */
export function summarizeProfile(profile: CpuProfile): { totalMs: number; byCategory: Array<[string, number]> } {
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byCategory = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id);
    if (!us) continue;
    const category = categoryOf(node.callFrame);
    byCategory.set(category, (byCategory.get(category) ?? 0) + us / 1000);
  }
  return {
    totalMs: (profile.endTime - profile.startTime) / 1000,
    byCategory: [...byCategory].sort((a, b) => b[1] - a[1]),
  };
}
