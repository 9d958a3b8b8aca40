// Child process of the bench: times `import()` of the bundle named by EF_BENCH_BUNDLE (a file URL), prints
// {"importMs": …, "cpuMs": …} and exits at once (the adapters may hold sockets open). Runs on plain `node`.
const bundle = process.env.EF_BENCH_BUNDLE;
if (!bundle) throw new Error('EF_BENCH_BUNDLE is required');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await import(bundle);
const importMs = performance.now() - t0;
// CPU time moves much less than wall time when other work shares the cores.
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ importMs, cpuMs: (cpu.user + cpu.system) / 1000 }));
process.exit(0);
