import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok, type Browser, type Reply } from './client.js';
import { RETRY_AFTER, type AdapterContext } from './context.js';

const HTTPS = { 'x-forwarded-proto': 'https' };

/** A 503 as a store outage must be answered: `Retry-After`, the JSON error, and the session cookie left alone. */
function assertOutage(reply: Reply, what: string): void {
  assert.equal(reply.status, 503, `${what}: ${JSON.stringify(reply.json)}`);
  assert.equal(reply.headers.get('retry-after'), String(RETRY_AFTER), `${what}: Retry-After`);
  assert.deepEqual(reply.json, { error: { code: 'STORE_UNAVAILABLE', message: 'the session store is unavailable' } }, what);
  assert.equal(reply.sessionCookie?.clears ?? false, false, `${what} cleared the session cookie: an outage is never a logout`);
}

/** A store outage over HTTP: 503 with `Retry-After`, never "no session", and the same cookie works once the store is back. */
export function outageCases(ctx: AdapterContext): void {
  /** A logged-in browser whose session counts 1, on `app`. */
  async function established(browser: Browser, subject: string): Promise<string> {
    const { id } = ok<{ id: string }>(await browser.post(`/login?subject=${subject}`), 'POST /login');
    assert.deepEqual(ok(await browser.post('/increment'), 'POST /increment'), { value: 1 });
    return id;
  }

  /** Brings the store back, and waits for the undo of any write whose outcome the outage left unknown. */
  async function restore(): Promise<void> {
    ctx.storeDown(false);
    await ctx.manager.settled();
  }

  describe('a store outage', () => {
    it('answers every route 503 with Retry-After and the JSON error, clears no cookie, and the cookie works again after', async () => {
      for (const [app, headers] of [
        [ctx.direct, {}],
        [ctx.proxied, HTTPS],
      ] as const) {
        const browser = ctx.browser(app, headers);
        const id = await established(browser, 'outage-user');
        const cookie = browser.cookie;
        ctx.storeDown(true);
        try {
          for (const [method, path] of [
            ['GET', '/session'],
            ['POST', '/increment'],
            ['POST', '/set?key=k&value=v'],
            ['POST', '/login?subject=outage-user'],
            ['POST', '/login-rotate?subject=outage-user'],
            ['POST', '/logout'],
            ['GET', '/sessions'],
            ['POST', '/revoke-others'],
          ] as const) {
            assertOutage(await browser.send(path, { method }), `${app.label}: ${method} ${path} while the store is down`);
          }
        } finally {
          await restore();
        }
        assert.equal(browser.cookie, cookie, 'the browser still holds its cookie');
        assert.deepEqual(await browser.session(), { id, subject: 'outage-user', data: { count: 1 } });
        assert.deepEqual(ok(await browser.post('/increment'), 'POST /increment once the store is back'), { value: 2 });
      }
    });

    it('answers a first write 503 and hands out no token; the next one, once the store is back, gets a session', async () => {
      const browser = ctx.browser(ctx.direct);
      ctx.storeDown(true);
      let reply: Reply;
      try {
        reply = await browser.post('/increment');
      } finally {
        await restore();
      }
      assertOutage(reply, 'a first POST /increment while the store is down');
      assert.equal(reply.sessionCookie, null, 'a session the store never took gets no cookie');
      assert.deepEqual(ok(await browser.post('/increment'), 'POST /increment once the store is back'), { value: 1 });
    });

    it('answers 503 when the store fails after the session loaded (a write, a login), and loses nothing', async () => {
      const browser = ctx.browser(ctx.direct);
      const id = await established(browser, 'half-outage-user');
      const cookie = browser.cookie;
      for (const [operation, path] of [
        ['apply', '/increment'],
        ['create', '/login?subject=half-outage-user'],
        ['create', '/login-rotate?subject=half-outage-user'],
      ] as const) {
        const before = ctx.storeErrors.length;
        ctx.storeDown((called) => called === operation);
        let reply: Reply;
        try {
          reply = await browser.post(path);
        } finally {
          await restore();
        }
        assertOutage(reply, `POST ${path} when the store fails on ${operation}`);
        assert.ok(ctx.storeErrors.slice(before).includes(operation), `the ${operation} failure was reported`);
        assert.equal(reply.sessionCookie, null, `POST ${path}: a token the store never took is not handed out`);
        assert.equal(browser.cookie, cookie);
        assert.deepEqual(await browser.session(), { id, subject: 'half-outage-user', data: { count: 1 } }, `after POST ${path}`);
      }
    });

    it('answers 503 to a logout the store could not do, and keeps the cookie, so that the logout can be retried', async () => {
      const browser = ctx.browser(ctx.direct);
      const id = await established(browser, 'logout-outage-user');
      const cookie = browser.cookie;
      ctx.storeDown((called) => called === 'delete');
      let reply: Reply;
      try {
        reply = await browser.post('/logout');
      } finally {
        await restore();
      }
      assertOutage(reply, 'POST /logout when the store fails to delete');
      assert.equal(browser.cookie, cookie, 'the browser keeps the token of the session still stored');
      assert.deepEqual(await browser.session(), { id, subject: 'logout-outage-user', data: { count: 1 } });
      const retried = await browser.post('/logout');
      assert.deepEqual(ok(retried, 'the retried POST /logout'), { ok: true });
      assert.ok(retried.sessionCookie?.clears);
      assert.equal(await ctx.manager.get(id), null);
    });
  });
}
