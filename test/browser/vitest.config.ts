// Vitest configuration of `npm run test:browser`: Swagger UI at /docs in a real Chromium (Debian's
// `chromium`, driven by playwright-core). Separate from `npm test`, which needs no browser.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { UPSTASH_DISABLE_TELEMETRY: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
