/**
 * The demo page in a real headless Chromium (Debian's, driven by playwright-core): log in,
 * increment, see the session in "Your sessions", revoke another device, watch a session expire,
 * log out. Skips with a printed reason where Chromium is absent, unless TESSERA_REQUIRE_SERVICES=1.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkipReason, WAIT_MS, waitForText, waitUntil } from './support/chromium.js';
import { DemoClient } from './support/demo-client.js';
import { startDemoServer, type DemoServer } from './support/demo-server.js';

/** Only the demo on loopback may be reached; anything else is aborted. */
function isLoopback(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('about:')) return true;
  try {
    const { hostname } = new URL(url);
    return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
  } catch {
    return false;
  }
}

const skip = chromiumSkipReason('the browser test');

describe('demo page in headless Chromium', { skip }, () => {
  let server: DemoServer;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const blocked: string[] = [];

  before(async () => {
    server = await startDemoServer();
    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLoopback(url)) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    page = context.pages()[0] ?? (await context.newPage());
    // A CSP violation or a script error shows up here.
    page.on('console', (message) => {
      // Chrome logs every 4xx fetch ("Failed to load resource"); the 401s here are expected.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
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

  it('shows the login form to a new visitor', async () => {
    await page.goto(server.url);
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await page.getByTestId('session-panel').isVisible(), false);
  });

  it('logs in, counts down, and shows the session as the store holds it', async () => {
    await page.getByTestId('username').fill('browser-user');
    await page.getByTestId('login-ttl').selectOption('300');
    await page.getByTestId('login-button').click();
    await page.getByTestId('session-panel').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await page.getByTestId('login-panel').isVisible(), false);
    await waitForText(page.getByTestId('session-username'), 'browser-user', 'the username');
    await waitForText(page.getByTestId('views'), '0', 'the page views');
    await waitForText(page.getByTestId('countdown'), /^[45]:\d\d$/, 'the countdown');
    await waitForText(page.getByTestId('store-record'), /"subject": "browser-user"/, 'the stored record');
    const record = (await page.getByTestId('store-record').textContent()) ?? '';
    assert.match(record, /"secretHash": "[A-Za-z0-9_-]{8}…"/);

    const cookies = await context.cookies(server.url);
    const cookie = cookies.find((c) => c.name === 'tessera');
    assert.ok(cookie, 'the session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.path, '/');
    assert.equal(cookie.secure, false);
  });

  it('increments the page-view counter', async () => {
    await page.getByTestId('increment').click();
    await waitForText(page.getByTestId('views'), '1', 'the page views');
    await page.getByTestId('increment').click();
    await waitForText(page.getByTestId('views'), '2', 'the page views');
    await waitForText(page.getByTestId('store-record'), /"views": 2/, 'the stored record');
  });

  it('lists the session under "Your sessions" as this device, and revokes another device', async () => {
    const rows = page.getByTestId('session-row');
    await waitUntil('one session row', async () => (await rows.count()) === 1);
    const row = rows.first();
    assert.equal(await row.getByTestId('this-device').count(), 1);
    assert.match((await row.getByTestId('session-browser').textContent()) ?? '', /Chrome/);
    assert.equal((await row.getByTestId('session-ip').textContent())?.trim(), '127.0.0.1');

    const phone = new DemoClient(() => server.url, 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0');
    assert.equal((await phone.login('browser-user', 600)).status, 200);
    await page.getByTestId('refresh-sessions').click();
    await waitUntil('two session rows', async () => (await rows.count()) === 2);
    const other = page.locator('[data-testid="session-row"][data-current="false"]');
    await waitForText(other.getByTestId('session-browser'), /Firefox 128 on Android/, 'the other device');
    await other.getByTestId('revoke-session').click();
    await waitUntil('one session row again', async () => (await rows.count()) === 1);
    assert.equal((await phone.get('/api/session')).status, 401, 'the revoked device is logged out');
  });

  it('shows the first page of "Your sessions" and a "more" button that appends the next page', async () => {
    const rows = page.getByTestId('session-row');
    const more = page.getByTestId('more-sessions');
    assert.equal(await more.isVisible(), false, 'no "more" while one page holds them all');
    for (let i = 0; i < 20; i++)
      assert.equal((await new DemoClient(() => server.url, `device-${i}`).login('browser-user', 600)).status, 200);
    await page.getByTestId('refresh-sessions').click();
    await waitUntil('a first page of 20 rows', async () => (await rows.count()) === 20 && (await more.isVisible()));
    await more.click();
    await waitUntil('all 21 rows', async () => (await rows.count()) === 21);
    assert.equal(await more.isVisible(), false, 'no "more" after the last page');
    assert.equal(await page.locator('[data-testid="session-row"][data-current="true"]').count(), 1);
    await page.getByTestId('revoke-others').click();
    await waitUntil('one session row after logging out the others', async () => (await rows.count()) === 1);
  });

  it('changes the TTL, and an expired session falls back to the login form', async () => {
    await page.getByTestId('ttl-select').selectOption('1800');
    await page.getByTestId('ttl-button').click();
    await waitForText(page.getByTestId('session-ttl'), '30 minutes', 'the ttl');
    await waitForText(page.getByTestId('countdown'), /^(29|30):\d\d$/, 'the countdown');

    // A 2-second TTL set through the API (the page offers 15 s at least), then the page re-reads the store.
    const status = await page.evaluate(
      "fetch('/api/session/ttl', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttl: 2 }) }).then((r) => r.status)",
    );
    assert.equal(status, 200);
    await page.getByTestId('refresh-store').click();
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
    await waitForText(page.getByTestId('message'), /expired/i, 'the expiry message');
  });

  it('logs out and shows the login form again', async () => {
    await page.getByTestId('username').fill('browser-user');
    await page.getByTestId('login-button').click();
    await page.getByTestId('session-panel').waitFor({ state: 'visible', timeout: WAIT_MS });
    await waitForText(page.getByTestId('views'), '0', 'the page views of the fresh session');
    await page.getByTestId('increment').click();
    await waitForText(page.getByTestId('views'), '1', 'the page views');

    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await page.getByTestId('session-panel').isVisible(), false);
    const cookies = await context.cookies(server.url);
    assert.equal(
      cookies.find((c) => c.name === 'tessera'),
      undefined,
      'the cookie is cleared',
    );
    assert.equal(await page.evaluate("fetch('/api/session').then((r) => r.status)"), 401);

    await page.reload();
    await page.getByTestId('login-form').waitFor({ state: 'visible', timeout: WAIT_MS });
  });

  it('has no script errors or CSP violations, and reached nothing but loopback', () => {
    assert.deepEqual(problems, []);
    assert.deepEqual(blocked, []);
  });
});
