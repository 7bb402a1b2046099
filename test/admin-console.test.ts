/**
 * The admin console in a real headless Chromium (Debian's, driven by playwright-core): the live
 * count and counters, search by name prefix, user and session id, next and previous pages, a
 * session's details, revoke one and revoke all of a user behind a confirmation, the count
 * dropping, and data shown as text. Skips with a printed reason where Chromium is absent, unless
 * TESSERA_REQUIRE_SERVICES=1. The page is served by the admin handler itself, over a MemoryStore. With TESSERA_SCREENSHOTS=1 it writes docs/admin-console.png and
 * docs/admin-console-phone.png (desktop and phone width) for the README.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkipReason, WAIT_MS, waitForText, waitUntil } from './support/chromium.js';
import { startConsoleServer, type ConsoleServer } from './support/admin-console-server.js';

const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === '1';
const DOCS = new URL('../docs/', import.meta.url);

const DEVICES = [
  {
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  },
  { ip: '198.51.100.23', userAgent: 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0' },
  {
    ip: '192.0.2.44',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  },
];
const HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Mallory';

const skip = chromiumSkipReason('the admin console test');

describe('admin console in headless Chromium', { skip }, () => {
  let stub: ConsoleServer;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const rows = () => page.getByTestId('session-row');

  before(async () => {
    stub = await startConsoleServer();
    // 25 sessions: alice on 3 devices, bob on 2, and 20 others (mallory, whose name is markup, comes later).
    for (const device of DEVICES) await stub.login('alice', 'Alice Martin', device, { cart: { items: ['secret-item'] }, theme: 'dark' });
    for (const device of DEVICES.slice(0, 2)) await stub.login('bob', 'Bob Okafor', device);
    for (let i = 0; i < 20; i++)
      await stub.login(`user-${i}`, `Member ${String(i).padStart(2, '0')}`, DEVICES[i % 3] as (typeof DEVICES)[number]);
    profile = await mkdtemp(join(tmpdir(), 'tessera-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
    });
    await context.route('**/*', (route) => (route.request().url().startsWith('http://127.0.0.1:') ? route.continue() : route.abort()));
    page = context.pages()[0] ?? (await context.newPage());
    await page.setViewportSize({ width: 1280, height: 900 });
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  });

  after(async () => {
    // Each step runs even if one before it failed: a server left listening keeps the file from exiting.
    try {
      await context?.close();
    } finally {
      try {
        await stub?.dispose();
      } finally {
        if (profile) await rm(profile, { recursive: true, force: true });
      }
    }
  });

  it('shows the live count, the counters and the first page of every session', async () => {
    await page.goto(stub.url);
    await waitForText(page.getByTestId('stat-live'), '25', 'the live count');
    await waitForText(page.getByTestId('stat-logged-in'), '25', 'the logins counter');
    await waitUntil('a first page of 20 rows', async () => (await rows().count()) === 20);
    assert.equal(await page.getByTestId('prev-page').isDisabled(), true);
    assert.equal(await page.getByTestId('next-page').isDisabled(), false);
    if (SCREENSHOTS) await page.screenshot({ path: new URL('admin-console.png', DOCS).pathname });
  });

  it('shows markup in data as text', async () => {
    await stub.login('mallory', HOSTILE_NAME, DEVICES[2] as (typeof DEVICES)[number]);
    const row = page.locator('[data-testid="session-row"]', { hasText: 'Mallory' });
    await page.getByTestId('search-text').fill('mallory');
    await page.getByTestId('search-button').click();
    await waitUntil('mallory alone', async () => (await rows().count()) === 1);
    assert.equal(await row.getByTestId('session-name').textContent(), HOSTILE_NAME);
    assert.equal(await row.getByTestId('session-device').textContent(), 'Chrome 131 on Windows');
    assert.equal(await row.getByTestId('session-ip').textContent(), '192.0.2.44');
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.evaluate('window.__xss'), undefined);
  });

  it('pages forward and back', async () => {
    await page.getByTestId('search-text').fill('');
    await page.getByTestId('search-button').click();
    await waitUntil('page 1', async () => (await rows().count()) === 20);
    const first = await rows().first().getAttribute('data-id');
    await page.getByTestId('next-page').click();
    await waitForText(page.getByTestId('page-number'), 'Page 2', 'the page number');
    await waitUntil('the last 6 rows', async () => (await rows().count()) === 6);
    assert.equal(await page.getByTestId('next-page').isDisabled(), true);
    await page.getByTestId('prev-page').click();
    await waitForText(page.getByTestId('page-number'), 'Page 1', 'the page number');
    await waitUntil('page 1 again', async () => (await rows().count()) === 20);
    assert.equal(await rows().first().getAttribute('data-id'), first);
    assert.equal(await page.getByTestId('prev-page').isDisabled(), true);
  });

  it('finds by display-name prefix, by user and by session id from the one box', async () => {
    const search = async (text: string, field = 'any') => {
      await page.getByTestId('search-field').selectOption(field);
      await page.getByTestId('search-text').fill(text);
      await page.getByTestId('search-button').click();
    };
    await search('Ali');
    await waitForText(page.getByTestId('message'), 'Display names starting with "Ali"', 'the filter');
    await waitUntil("alice's 3 sessions", async () => (await rows().count()) === 3);
    assert.deepEqual(await rows().getByTestId('session-subject').allTextContents(), ['alice', 'alice', 'alice']);

    await search('bob');
    await waitForText(page.getByTestId('message'), 'Sessions of user "bob"', 'the filter');
    await waitUntil("bob's 2 sessions", async () => (await rows().count()) === 2);

    const id = (await rows().first().getAttribute('data-id')) as string;
    await search(id);
    await waitForText(page.getByTestId('message'), `Session ${id}`, 'the filter');
    await waitUntil('one session', async () => (await rows().count()) === 1);

    await search('Member 1', 'q');
    await waitUntil('Member 10..19', async () => (await rows().count()) === 10);
    await search('nobody-at-all');
    await waitForText(page.getByTestId('message'), 'No sessions found.', 'the empty result');
    assert.equal(await rows().count(), 0);
    await page.getByTestId('search-field').selectOption('any');
  });

  it("opens a session's details", async () => {
    await page.getByTestId('search-text').fill('alice');
    await page.getByTestId('search-button').click();
    await waitUntil("alice's sessions", async () => (await rows().count()) === 3);
    const id = (await rows().first().getAttribute('data-id')) as string;
    await rows().first().getByTestId('show-details').click();
    const details = page.getByTestId('details');
    await details.waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await details.locator('[data-field="Session id"]').textContent(), id);
    assert.equal(await details.locator('[data-field="User"]').textContent(), 'alice');
    // Field names and sizes, not values: the handler shows values only with showData.
    const fields = (await details.locator('[data-field="Data fields"]').textContent()) ?? '';
    assert.match(fields, /^cart \(\d+ bytes\)\ntheme \(\d+ bytes\)$/);
    assert.doesNotMatch(fields, /secret-item|dark/);
    assert.match(
      (await details.locator('[data-field="Created from"]').textContent()) ?? '',
      /^(203\.0\.113\.7|198\.51\.100\.23|192\.0\.2\.44)$/,
    );
    await page.getByTestId('details-close').click();
    await details.waitFor({ state: 'hidden', timeout: WAIT_MS });
  });

  it('revokes one session after a confirmation, and the count drops', async () => {
    const id = (await rows().first().getAttribute('data-id')) as string;
    await rows().first().getByTestId('revoke-session').click();
    await page.getByTestId('confirm').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.getByTestId('confirm-cancel').click();
    assert.equal(await rows().count(), 3, 'cancel revokes nothing');
    assert.notEqual(await stub.manager.get(id), null);

    await rows().first().getByTestId('revoke-session').click();
    await page.getByTestId('confirm-ok').click();
    await waitUntil("alice's 2 remaining sessions", async () => (await rows().count()) === 2);
    assert.equal(await stub.manager.get(id), null);
    await waitForText(page.getByTestId('stat-live'), '25', 'the live count');
    await waitForText(page.getByTestId('stat-admin'), '1', 'the admin revocations');
  });

  it('says what the API answered when a session is already gone, and drops it from the page', async () => {
    const id = (await rows().first().getAttribute('data-id')) as string;
    assert.equal(await stub.manager.revoke(id), true, 'revoked behind the page');
    await rows().first().getByTestId('revoke-session').click();
    await page.getByTestId('confirm-ok').click();
    await waitForText(page.getByTestId('message'), /no such session \(404\)/, 'the error');
    assert.equal(await page.getByTestId('message').getAttribute('class'), 'error');
    await waitUntil("alice's last session", async () => (await rows().count()) === 1);
  });

  it('revokes every session of a user after a confirmation', async () => {
    await rows().first().getByTestId('revoke-all').click();
    await waitForText(page.getByTestId('confirm-text'), /every session of user "alice"/, 'the confirmation');
    await page.getByTestId('confirm-ok').click();
    await waitForText(page.getByTestId('message'), 'Revoked 1 session of user "alice".', 'the result');
    await waitUntil('no rows', async () => (await rows().count()) === 0);
    await waitForText(page.getByTestId('stat-live'), '23', 'the live count');
    assert.equal(await stub.manager.count({ subject: 'alice' }), 0);
  });

  it('sent same-origin proof on every mutating request, and raised no script error', () => {
    assert.deepEqual(
      stub.mutations.map((m) => m.fetchSite),
      stub.mutations.map(() => 'same-origin'),
    );
    assert.equal(stub.mutations.length, 3);
    assert.deepEqual(problems, []);
  });

  it('refreshes the counters by itself', async () => {
    await stub.login('carol', 'Carol Nguyen', DEVICES[0] as (typeof DEVICES)[number]);
    await waitForText(page.getByTestId('stat-live'), '24', 'the live count, without a click');
  });

  it('fits a phone-width screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('search-text').fill('');
    await page.getByTestId('search-button').click();
    await waitUntil('page 1', async () => (await rows().count()) === 20);
    const width = await page.evaluate('document.documentElement.scrollWidth');
    assert.ok((width as number) <= 390, `no horizontal scroll at 390 px (page is ${String(width)} px wide)`);
    if (SCREENSHOTS) await page.screenshot({ path: new URL('admin-console-phone.png', DOCS).pathname });
  });

  it('shows data values when the handler is given showData', async () => {
    const withData = await startConsoleServer({ showData: true });
    try {
      await withData.login('dora', 'Dora Ito', DEVICES[0] as (typeof DEVICES)[number], { note: '<b>not bold</b>' });
      await page.goto(withData.url);
      await waitUntil("dora's session", async () => (await rows().count()) === 1);
      await rows().first().getByTestId('show-details').click();
      const fields = page.getByTestId('details').locator('[data-field="Data fields"]');
      await waitForText(fields, /^note \(\d+ bytes\): "<b>not bold<\/b>"$/, 'the data value, as text');
      assert.equal(await page.locator('#details-list b').count(), 0);
    } finally {
      await withData.dispose();
    }
  });

  // A request in flight when the server closes: the page's polls then kept that connection busy
  // and dispose() never returned (this file hung until the runner's timeout). Without the fix it
  // times out here instead.
  it('stops its server while the console has a request in flight', { timeout: 60_000 }, async () => {
    let arrived = (): void => {};
    let release = (): void => {};
    const statsArrived = new Promise<void>((resolve) => (arrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const polled = await startConsoleServer({
      beforeAnswer: (path) => {
        if (held || path !== '/admin/api/stats') return undefined;
        held = true;
        arrived();
        return released;
      },
    });
    await page.goto(polled.url);
    await statsArrived;
    const disposed = polled.dispose();
    release();
    await disposed;
  });
});
