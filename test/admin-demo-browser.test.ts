// The demo page shows the admin console link to admins only (headless Chromium on the build in dist/).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkipReason, WAIT_MS } from './support/chromium.js';
import { type DemoServer, startDemoServer } from './support/demo-server.js';

describe('the demo page’s admin console link in headless Chromium', { skip: chromiumSkipReason('the admin demo browser test') }, () => {
  let server: DemoServer;
  let profile: string;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    server = await startDemoServer({ env: { TESSERA_ADMINS: 'root' } });
    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    // Each step runs even if one before it failed: a demo process left running keeps the file from exiting.
    try {
      await context?.close();
    } finally {
      try {
        await server?.dispose();
      } finally {
        if (profile) await rm(profile, { recursive: true, force: true });
      }
    }
  });

  async function login(username: string): Promise<void> {
    await page.getByTestId('username').fill(username);
    await page.getByTestId('login-button').click();
    await page.getByTestId('session-panel').waitFor({ state: 'visible', timeout: WAIT_MS });
    const name = page.getByTestId('session-username');
    const deadline = Date.now() + WAIT_MS;
    while ((await name.textContent()) !== username) {
      if (Date.now() > deadline) throw new Error(`the page never showed ${username} logged in`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('hides the link from a user who is not an admin', async () => {
    await page.goto(server.url);
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
    await login('alice');
    assert.equal(await page.getByTestId('admin-link').isVisible(), false);
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
  });

  it('shows it to an admin, after a reload too, pointing at /admin/', async () => {
    await login('root');
    await page.getByTestId('admin-link').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.reload();
    await page.getByTestId('admin-link').waitFor({ state: 'visible', timeout: WAIT_MS });
    const href = await page.getByTestId('admin-link').evaluate((a) => (a as unknown as { href: string }).href);
    assert.equal(href, `${server.url}/admin/`);
    // The API behind it answers the admin's browser (the cookie rides along, same origin).
    const stats = await page.evaluate(async () => (await fetch('admin/api/stats')).status);
    assert.equal(stats, 200);
  });
});
