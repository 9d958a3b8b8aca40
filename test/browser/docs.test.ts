// /docs in a real browser, offline: the local server (npm start's stack over the real Postgres and
// Redis) serves Swagger UI from its own routes; every request outside the server is blocked and must
// not happen. The page lists the operations, and "Try it out" on POST /events gets a 202.
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../scripts/lib/local-stack.ts';
import { countRows, createTestDatabase, TEST_REDIS_URL, type TestDatabase, uniqueName } from '../support/services.ts';

/** Debian's chromium (apt-get install chromium), or CHROMIUM_PATH. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));

let db: TestDatabase;
let stack: LocalStack;
let browser: Browser;
const streamKey = uniqueName('events');

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('no chromium: install it with `apt-get install -y chromium` or set CHROMIUM_PATH');
  db = await createTestDatabase({ migrate: false });
  stack = await startLocalStack({
    env: { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: streamKey, PORT: '0', POWERTOOLS_LOG_LEVEL: 'ERROR' },
    consumer: false,
    log: () => {},
  });
  // As root (CI) Chromium needs --no-sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  const redis = new Redis(TEST_REDIS_URL);
  await redis.del(streamKey, `${streamKey}:errors`);
  redis.disconnect();
  await db?.drop();
});

it('renders the operations from the app alone and runs "Try it out" on POST /events to a 202', async () => {
  const page = await browser.newPage();
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${stack.url}/`)) return route.continue();
    outside.push(url);
    return route.abort();
  });

  // With a trailing slash the relative asset URLs would miss: the page sends itself to /docs.
  await page.goto(`${stack.url}/docs/`);
  const summaries = page.locator('.opblock .opblock-summary-path');
  await summaries.first().waitFor({ timeout: 30_000 });
  const paths = (await summaries.allTextContents()).map((text) => text.replace(/\u200b/g, '').trim());
  expect(paths).toEqual(
    expect.arrayContaining(['/events', '/events/batch', '/events/{id}', '/health', '/metrics/summary', '/admin/redrive']),
  );
  expect(await page.locator('.opblock-post').count()).toBeGreaterThanOrEqual(3);

  const postEvents = page.locator('#operations-events-postEvent');
  await postEvents.locator('.opblock-summary').click();
  await postEvents.getByRole('button', { name: 'Try it out' }).click();
  await postEvents.getByRole('button', { name: 'Execute' }).click();
  const status = postEvents.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor({ timeout: 30_000 });
  expect((await status.textContent())?.trim()).toMatch(/^202/);
  const body = await postEvents.locator('.live-responses-table tr.response .response-col_description pre').first().textContent();
  expect(JSON.parse(body ?? '{}')).toMatchObject({ status: 'accepted', duplicate: false });

  // The example event really reached Postgres, and the page needed nothing from outside the app.
  expect(await countRows(stack.sql, 'raw_events', "payload->>'user_id' = 'user-42'")).toBe(1);
  expect(outside).toEqual([]);
});
