// Child process of the bench: times `import()` of the bundle named by EF_BENCH_BUNDLE (a file URL), prints
// {"importMs": …} and exits at once (the adapters hold sockets open). Runs on plain `node` (type stripping).
const bundle = process.env.EF_BENCH_BUNDLE;
if (!bundle) throw new Error('EF_BENCH_BUNDLE is required');
const t0 = performance.now();
await import(bundle);
process.stdout.write(JSON.stringify({ importMs: performance.now() - t0 }));
process.exit(0);
