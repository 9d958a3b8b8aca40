// Builds `npm start`'s server into dist/start/ (esbuild, run by `npm run prestart`), so the server runs on plain
// `node` without a TypeScript loader or esbuild resident. Build tooling only: never imported by the server.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where `npm start` runs the server from. */
export const START_BUNDLE_DIR = join(ROOT, 'dist/start');
export const START_BUNDLE = join(START_BUNDLE_DIR, 'start.mjs');

/**
 * The node flags `npm start` runs the bundle with (package.json's start script spells them out; a test compares).
 * A small young generation (2 MiB semi-spaces instead of up to 16): scavenges stay short, which shortened the tail
 * latency under load, and the heap does not grow to the young generation's full size (server RSS after the
 * bench's HTTP phase 153 MiB instead of 260 MiB).
 */
export const START_NODE_FLAGS = ['--enable-source-maps', '--max-semi-space-size=2'] as const;

/**
 * Bundles scripts/start.ts and the project's own modules; npm packages stay external (resolved from node_modules as
 * from source). Two rules keep it equivalent to running the sources:
 * - the output sits two folders below the root, as the sources do (lambdas/x/, scripts/lib/), so paths built from
 *   `import.meta.url` (migrations, Swagger UI assets) reach the same files;
 * - code splitting keeps each dynamically imported module (the local endpoints) in its own chunk, so their
 *   "am I the main module?" checks stay false.
 */
export async function buildStartBundle(outdir: string = START_BUNDLE_DIR): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: { start: join(ROOT, 'scripts/start.ts') },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    packages: 'external',
    outExtension: { '.js': '.mjs' },
    sourcemap: true,
    logLevel: 'warning',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildStartBundle(process.argv[2] ? join(ROOT, process.argv[2]) : undefined);
}
